/**
 * WPPConnect Server settings recommended behind the gateway (patches/engine-config/README.md says why, key by key).
 *
 * This is NOT a whole config.ts: merge these keys into the engine's own `src/config.ts` (v2.10.x: a plain object
 * literal, `export default { … }`) and leave every other key as it is, then rebuild and restart the engine. Key names
 * are the engine's (wppconnect-engine.md §3.3, §4, §6); `createOptions.autoClose` is passed through to the
 * @wppconnect-team/wppconnect library, whose default is 60000.
 */
export default {
  // Long and random (`openssl rand -hex 32`): anyone who knows it can mint a token for any session, and it travels in
  // URL paths (generate-token, show-all-sessions, start-all). Hex keeps it URL-safe. The gateway's
  // WPPCONNECT_SECRET_KEY must be the same value.
  secretKey: process.env.SECRET_KEY || '',
  // The engine calls itself at boot on `${host}:${port}/api/<secretKey>/start-all`: keep that call on this machine.
  host: 'http://localhost',
  port: '21465',
  // Restart every session from tokens/ at boot, with its stored start-session body (which carries the gateway's
  // per-channel webhook URL), so events flow again before the gateway has done anything.
  startAllSession: true,
  // Absolute, and the same path the gateway gets as WPPCONNECT_USER_DATA_DIR (same host), so it can read and heal
  // each session's profile lock; the profile-lock sweeper gets it too.
  customUserDataDir: '/opt/wppconnect-server/userDataDir/',
  webhook: {
    // Empty: the gateway passes a per-session webhook (…/engine-events/<channel>/<token>) on every start-session.
    url: null,
    // The gateway strips media base64 from webhooks anyway; the Hub fetches media with GET /api/media/:channel/:id.
    autoDownload: false,
    uploadS3: false,
    // A 2xx from the gateway means "stored", not "read by a person": do not mark chats as read.
    readMessage: false,
    // One webhook per unread message at each start would replay old chats to the Hub as new messages.
    allUnreadOnStart: false,
    // message.ack is one of the two events the Hub handles.
    listenAcks: true,
    // Never relayed by the gateway (about contacts, not the session); the bulk of all engine events.
    onPresenceChanged: false,
    // Not relayed by the gateway today: switch on only when a consumer needs them.
    onParticipantsChanged: false,
    onReactionMessage: false,
    onPollResponse: false,
    onRevokedMessage: false,
    onLabelUpdated: false,
    // Messages typed on the phone reach the Hub as `message` with fromMe:true (the old deployment had this on).
    onSelfMessage: true,
    // Status updates (stories) are not chats.
    ignore: ['status@broadcast'],
  },
  log: {
    // The gateway reads launch failures from the engine log (WPPCONNECT_LOG_FILE); they are logged at level error.
    level: 'info',
    logger: ['console', 'file'],
  },
  createOptions: {
    // The QR phase lasts this long before the engine closes the browser (default 60000 ≈ 1–2 QR codes). 180000
    // covers the Hub's ~2-minute wait after showing a QR. 0 disables it: an unscanned session then keeps its
    // browser until it is closed.
    autoClose: 180000,
    // Keep the engine's default browserArgs (they include --no-sandbox); choose the browser with CHROME_PATH,
    // because the engine ignores puppeteerOptions.executablePath.
  },
};

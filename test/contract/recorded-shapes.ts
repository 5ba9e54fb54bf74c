/**
 * What the REAL WPPConnect Server 2.10.4 (commit 348a672, wppconnect 2.3.3, puppeteer 24.43.1, Debian Chromium 156)
 * answered, body for body. The engine contract suite (test/contract/*.test.ts) asserts every target against these,
 * and test/helpers/engine-shapes.ts builds its nock fixtures from them, so the fixtures cannot drift from the engine.
 *
 * Sources, per entry:
 * - "§7.2" / "§7.3" / "§2.2": /work/shared/spec/wppconnect-engine.md (observed on the real server);
 * - "run 2026-12-01": this suite's own probes of the real engine in namespace `wppreal`
 *   (docs/real-engine.md, "Contract suite against the real engine");
 * - "code": read in the engine source, not observable offline (WhatsApp Web never loads in the test namespace).
 *
 * Variable parts are kept as one observed sample (tokens, uptime, timestamps, session names); the suite matches them
 * with `expect.any` / regular expressions. Session-specific names are the recorded ones (`s1`), to be swapped by the
 * caller. `Content-Type: application/json` variants are listed separately (`…Json`): with exactly that request header
 * the engine adds `session` to any JSON reply without one (§2.0).
 */

/** A bcrypt token as generate-token returns it: `$2b$10$` + 53 chars, `/` → `_` and `+` → `-` (§1.1). */
export const TOKEN_PATTERN = /^\$2b\$10\$[A-Za-z0-9._-]{53}$/;

export const recorded = {
  engineVersion: '2.10.4',

  // ---- unauthenticated ---------------------------------------------------------------------------------------

  /** GET /healthz without a Content-Type: 200 (§7.2; run 2026-12-01: `{"uptime":412.692834808,…}`, ~3 ms). */
  healthz: { uptime: 21.848276253, message: 'OK', timestamp: 1795344068890 },
  /**
   * GET /healthz WITH `Content-Type: application/json`: no answer, ever (§7.3; run 2026-12-01: nothing within 4 s).
   * The engine logs this unhandled rejection instead.
   */
  healthzJsonRejection: 'Unhandled Rejection: SyntaxError: "[object Object]" is not valid JSON',
  /** Any unknown route: Express's 404 page, `text/html; charset=utf-8` (§2.0, §7.2; run 2026-12-01). */
  unknownRoute: {
    status: 404,
    contentType: 'text/html; charset=utf-8',
    body: '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /api/s1/nope</pre>\n</body>\n</html>\n',
  },

  // ---- tokens and bearer auth (§1) ---------------------------------------------------------------------------

  /** POST /api/:s/:secret/generate-token: 201, a new token on every call (§1.1, §7.2; run 2026-12-01). */
  generateToken: {
    status: 'success',
    session: 's1',
    token: '$2b$10$R9Pd172x9BOEQtzgj67tQe0rjyqc9zFzSyIH_GKR4envhDuAQdagu',
    full: 's1:$2b$10$R9Pd172x9BOEQtzgj67tQe0rjyqc9zFzSyIH_GKR4envhDuAQdagu',
  },
  /** generate-token with a wrong secret: 400 (§7.2; run 2026-12-01). */
  wrongSecret: { response: false, message: 'The SECRET_KEY is incorrect' },
  /** No Authorization header, or a header without the `Bearer ` word: 401 (§1.2, §7.2; run 2026-12-01). */
  noToken: { message: 'Token is not present. Check your header and try again' },
  /** A wrong token, or one minted for another session: 401 (§1.2, §7.2; run 2026-12-01). */
  badToken: { error: 'Check that the Session and Token are correct' },

  // ---- session state (§2.2) ----------------------------------------------------------------------------------

  /** status-session with no client, or after close-session reset it: 200 (§7.2; run 2026-12-01). */
  statusClosed: { status: 'CLOSED', qrcode: null },
  /** The same before any start, with Content-Type: application/json (run 2026-12-01). */
  statusClosedJson: { status: 'CLOSED', qrcode: null, session: '' },
  /**
   * After close-session, with Content-Type: application/json: no `session` key, because the `{status:null}` entry
   * close-session leaves has no `session` field and JSON drops `session: undefined` (run 2026-12-01).
   */
  statusClosedAfterCloseJson: { status: 'CLOSED', qrcode: null },
  /** The first start-session answer, with `Content-Type: application/json; charset=utf-8` or none (run 2026-12-01). */
  startFirst: { status: 'CLOSED', qrcode: null },
  /** The first start-session answer with exactly `Content-Type: application/json` (§7.2; run 2026-12-01). */
  startFirstJson: { status: 'CLOSED', qrcode: null, session: '' },
  /** status-session while the browser starts / WhatsApp Web does not load: 200, forever offline (§7.2; run 2026-12-01). */
  statusInitializing: { status: 'INITIALIZING', qrcode: null, version: '2.10.4' },
  /**
   * start-session on the `{status:null}` entry close-session left, Content-Type: application/json: CLOSED again, and
   * no `session` key since that entry has no `session` field (run 2026-12-01).
   */
  startAfterCloseJson: { status: 'CLOSED', qrcode: null },
  /** A second start-session on an INITIALIZING session, Content-Type: application/json (§7.2; run 2026-12-01). */
  startAgainJson: { status: 'INITIALIZING', qrcode: null, version: '2.10.4', session: 's1' },
  /** start-session `{waitQrCode:true}` on the `{status:null}` entry close-session left (§7.2; run 2026-12-01). */
  startWaitAfterClose: { status: null, qrcode: null, version: '2.10.4' },
  /**
   * status-session in QRCODE (§2.2, code + simulator; not observable offline): the QR re-rendered by the server
   * from urlcode as a PNG data URL, plus the urlcode itself.
   */
  statusQrcode: {
    status: 'QRCODE',
    qrcode: 'data:image/png;base64,iVBORw0KGgo…',
    urlcode: '2@Zx8LqW1vYbJ3kq9N,4bYd0vQe8H2mYQ==,Qm9vbGVhbg==,AAAA',
    version: '2.10.4',
  },
  /** status-session once CONNECTED: the last QR stays (urlcode is never cleared) (§2.2, code + simulator). */
  statusConnected: {
    status: 'CONNECTED',
    qrcode: 'data:image/png;base64,iVBORw0KGgo…',
    urlcode: '2@Zx8LqW1vYbJ3kq9N,4bYd0vQe8H2mYQ==,Qm9vbGVhbg==,AAAA',
    version: '2.10.4',
  },

  // ---- qrcode-session (§2.2) ---------------------------------------------------------------------------------

  /** qrcode-session with no client at all (§7.2; run 2026-12-01). */
  qrNotStarted: {
    status: null,
    message: 'Session not started. Please, use the /start-session route, for initialization your session',
  },
  /** qrcode-session with a client but no urlcode (§7.2; run 2026-12-01). `status` is the client's. */
  qrNotAvailable: { status: 'INITIALIZING', message: 'QRCode is not available...' },
  /** The same after close-session reset the entry to `{status:null}` (run 2026-12-01). */
  qrNotAvailableAfterClose: { status: null, message: 'QRCode is not available...' },
  /** qrcode-session when a urlcode exists: a PNG, whatever the status (§2.2, code + simulator). */
  qrPng: { status: 200, contentType: 'image/png' },

  // ---- check-connection-session (§2.2) -----------------------------------------------------------------------

  /** No client, or a placeholder (INITIALIZING/QRCODE): 200 (§7.2; run 2026-12-01). */
  checkDisconnected: { status: false, message: 'Disconnected' },
  /** A live page after login (§2.2, code + simulator). */
  checkConnected: { status: true, message: 'Connected' },

  // ---- close / logout / send before login (§2.1, §2.2) -------------------------------------------------------

  /**
   * close-session on a never-started session, and on a pre-login placeholder (INITIALIZING/QRCODE): 500; the entry
   * is reset to `{status:null}` anyway (§2.2, §7.2; run 2026-12-01). The engine logs `closeTypeError`.
   */
  closeError: { status: false, message: 'Error closing session', error: { level: 'error' } },
  /** close-session on the `{status:null}` entry (a second close): 200 (§7.2; run 2026-12-01). */
  closeOk: { status: true, message: 'Session successfully closed' },
  /** statusConnection before login (logout-session, send-*): 404, no Content-Type header (run 2026-12-01). */
  notActive: { response: null, status: 'Disconnected', message: 'A sessão do WhatsApp não está ativa.' },
  /**
   * The same with Content-Type: application/json on a session the engine has no entry for (§7.2; run 2026-12-01).
   * On a started (INITIALIZING) session the key is the session name instead (run 2026-12-01: `"session":"<s>"`), and
   * after close-session reset it there is no key at all.
   */
  notActiveJson: {
    response: null,
    status: 'Disconnected',
    message: 'A sessão do WhatsApp não está ativa.',
    session: '',
  },
  /** get-media-by-message before login: 500 (§2.3, §7.2; run 2026-12-01). */
  mediaNotActive: { status: 'error', message: 'The session is not active', error: { level: 'error' } },

  // ---- secret-key routes (§2.2) ------------------------------------------------------------------------------

  /** show-all-sessions: the token store's file names, not live sessions; a closed session stays (§7.2, §7.3). */
  showAll: { response: ['s1', 's2'] },
  /** show-all-sessions with a wrong secret: 400 (§7.2; run 2026-12-01). */
  showAllWrongSecret: { response: false, message: 'The token is incorrect' },
  /** start-all with a wrong secret: 400, and it still starts every stored session (§7.2). */
  startAllWrongSecret: { response: 'error', message: 'The token is incorrect' },
  /** start-all: 201 (§7.2). */
  startAllOk: { status: 'success', message: 'Starting all sessions' },

  // ---- the engine's stdout (WPPCONNECT_LOG_FILE), ANSI colours stripped (§5.2, §7.3; run 2026-12-01) ----------

  log: {
    /** Library logger, tagged, after `[<s>:browser] Error no open browser`: a foreign-host SingletonLock (Chrome exit 21). */
    code21: '[s2:browser] Failed to launch the browser process:  Code: 21',
    /** Chromium's own stderr line that follows it. */
    code21Chromium:
      'The profile appears to be in use by another Chromium process (12345) on another computer (otherhost).',
    /** A live browser already holds the profile (puppeteer ≥ 22 rewrites Chromium's ProcessSingleton error). */
    alreadyRunning:
      '[s1:browser] The browser is already running for /work/realeng/server/userDataDir/s1. Use a different `userDataDir` or stop the running browser first.',
    /** CHROME_PATH points at a non-executable file (the engine-eacces capture). */
    eacces: '[e1:browser] Failed to launch the browser process:  spawn /work/realeng/noexec-chrome EACCES',
    /** WhatsApp Web unreachable: from the server logger, timestamped and NOT tagged with the session (§7.3). */
    navigation:
      'error: 2026-12-01T15:02:14.474Z net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com - Error: net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com',
    /** close-session on a pre-login placeholder (§7.3). */
    closeTypeError: 'req.client.close is not a function - TypeError: req.client.close is not a function',
  },
};

export type RecordedShapes = typeof recorded;

/**
 * What a simulator is started with (`SimulatorOptions`: the engine's environment, fixed for its lifetime) and what
 * can change while it runs (`SimConfig`: `control.configure` / `PATCH /_sim/config`).
 */

export interface SimulatorOptions {
  /** The engine's SECRET_KEY. @default 'THISISMYSECURETOKEN' */
  secretKey?: string;
  /** Time from start-session to the first QR. @default 1500 */
  qrDelayMs?: number;
  /** A new QR (new urlcode, new `qrcode` webhook) every this many ms while waiting for the scan. @default 20000 */
  qrRotateMs?: number;
  /** QR-phase autoclose, counted from the first QR. @default 120000 */
  autoCloseMs?: number;
  /**
   * Engine log file: what the real engine writes to stdout (the file WPPCONNECT_LOG_FILE points at), in its format
   * (sim/engine-log.ts): lifecycle lines, launch and navigation failures, unhandled rejections.
   */
  logFile?: string;
  /** @default '2.10.4' */
  version?: string;
  /** The server-wide WEBHOOK_URL, used when a session's config has no `webhook`. */
  webhookUrl?: string;
  /**
   * CUSTOM_USER_DATA_DIR; the profile of session `s` is `<userDataDir>/<s>`. Only log text in virtual mode; with
   * `browserProcesses` it must be an existing absolute directory and holds real profiles.
   * @default '/usr/src/wpp-server/userDataDir/'
   */
  userDataDir?: string;
  /** The phone number a scan logs in as. @default '5511999990000' */
  phone?: string;
  /**
   * Every browser the simulator launches is a real child process whose command line carries
   * `--user-data-dir=<profile>`, and the profile gets Chromium's `Singleton*` links. Launches check the profile like
   * Chromium + puppeteer 24 (a live browser on it, a lock from another host…). Linux only. @default false
   */
  browserProcesses?: boolean;
  /** The host name Chromium writes in `SingletonLock` (`<hostname>-<pid>`). @default os.hostname() */
  hostname?: string;
  /** CHROME_PATH: when set, a missing file fails every launch with ENOENT and a non-executable one with EACCES. */
  chromePath?: string;
  /** Initial value of the `waWebReachable` config key. @default true */
  waWebReachable?: boolean;
  /** Initial value of the `orphanBrowsersOnClose` config key. @default true */
  orphanBrowsersOnClose?: boolean;
  /**
   * Each new QR takes the next urlcode of a pool of this many, each drawn once, instead of a fresh random one. On the
   * real engine WhatsApp Web draws the QR inside Chromium; here encoding it costs ~5 ms of the simulator's one thread,
   * which at 1 000 sessions rotating every 20 s would make the simulator, not the gateway, the slow part
   * (`npm run bench`). Sessions then share urlcodes (one session never gets the same one twice in a row), so a cache
   * keyed by urlcode alone would hit here more often than in production. Off below 2. @default 0
   */
  qrPool?: number;
}

export interface SimConfig {
  qrDelayMs: number;
  qrRotateMs: number;
  autoCloseMs: number;
  /** Sends never answer (a half-dead page waiting for an ack). Set back to false to drop the held requests. */
  hangSends: boolean;
  sendDelayMs: number;
  /** Digits that checkNumberStatus reports as not on WhatsApp. */
  unknownNumbers: string[];
  /** Every `/api/*` route hangs without answering (a wedged engine). Set back to false to drop held requests. */
  hangAll: boolean;
  /** Delay before each authenticated route runs; the real bcrypt compare costs ~80 ms. @default 0 */
  authDelayMs: number;
  /** Delay between a send's reply and its `onack` (ack 2) webhook. @default 300 */
  ackDelayMs: number;
  /**
   * Closing a pre-login session leaves its browser running (the real behaviour, spec §2.2, §7.3): the close answers
   * 500 and resets the entry, but the browser of that attempt keeps running and holding the profile, so every new
   * start of that session fails with "The browser is already running for …" until that browser ends. In QRCODE it
   * keeps posting QR webhooks (without `session`) until its autoclose; stuck on a failed navigation it runs forever.
   * Set to false to have close-session stop the browser instead. @default true
   */
  orphanBrowsersOnClose: boolean;
  /**
   * WhatsApp Web answers. When false, every launch that got a browser fails its navigation about 300 ms later
   * (`net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com`, untagged) and the session stays INITIALIZING
   * forever with its browser running: no QR, no webhook. @default true
   */
  waWebReachable: boolean;
}

/** The config a simulator starts with. */
export function initialConfig(options: SimulatorOptions): SimConfig {
  return {
    qrDelayMs: options.qrDelayMs ?? 1500,
    qrRotateMs: options.qrRotateMs ?? 20_000,
    autoCloseMs: options.autoCloseMs ?? 120_000,
    hangSends: false,
    sendDelayMs: 0,
    unknownNumbers: [],
    hangAll: false,
    authDelayMs: 0,
    ackDelayMs: 300,
    orphanBrowsersOnClose: options.orphanBrowsersOnClose ?? true,
    waWebReachable: options.waWebReachable ?? true,
  };
}

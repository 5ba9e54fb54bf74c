import fs from 'node:fs';

/**
 * The real WPPConnect Server 2.10.4 stdout (the file pm2 writes and WPPCONNECT_LOG_FILE points at), as captured in
 * test/fixtures/engine-log/*.log. Two writers share it, both winston with colourised levels:
 *
 * - the library's logger (`libraryLine`): no timestamp, the `level:` padded to 10 columns, then the message, usually
 *   tagged `[<session>:<type>]`: `\u001b[32minfo\u001b[39m:     [s1:browser] Using browser folder './userDataDir/s1'`;
 * - the server's logger (`serverLine`): `level: <ISO timestamp> <message>`, and for an Error ` - <stack>`, where the
 *   stack repeats the message (`Error: <message>`) and then its `    at …` frames. Never tagged.
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'verbose';

const COLOURS: Record<LogLevel, number> = { error: 31, warn: 33, info: 32, http: 32, verbose: 36 };

/** Where the engine is installed, for stack frames (the Docker image's path). */
export const ENGINE_ROOT = '/usr/src/wpp-server';

const coloured = (level: LogLevel) => `\u001b[${COLOURS[level]}m${level}\u001b[39m`;

export interface ErrorForLog {
  /** `Error`, `TypeError`, … */
  name: string;
  message: string;
  /** `    at …` frames. */
  frames: string[];
}

/** A library-logger entry: padded level, no timestamp, optionally tagged `[<session>:<type>]`. */
export function libraryLine(level: LogLevel, message: string, tag?: { session: string; type: string }): string {
  const pad = ' '.repeat(Math.max(1, 10 - level.length - 1));
  return `${coloured(level)}:${pad}${tag ? `[${tag.session}:${tag.type}] ` : ''}${message}\n`;
}

/** A server-logger entry: `level: <ISO> <message>[ - <name>: <message>\n<frames>]`. */
export function serverLine(level: LogLevel, message: string, error?: ErrorForLog, at = new Date()): string {
  const stack = error ? ` - ${error.name}: ${error.message}\n${error.frames.join('\n')}` : '';
  return `${coloured(level)}: ${at.toISOString()} ${message}${stack}\n`;
}

/** Appends to the engine log file, synchronously (cheap, and ordered with the HTTP replies). No file, no log. */
export class EngineLog {
  constructor(private readonly file: string | undefined) {}

  write(text: string): void {
    if (!this.file) return;
    fs.appendFileSync(this.file, text);
  }

  /** `[<session>:<type>] <message>` from the library's logger. */
  tagged(level: LogLevel, session: string, type: string, message: string): void {
    this.write(libraryLine(level, message, { session, type }));
  }

  /** An untagged library-logger line (e.g. the unhandled-rejection logger). */
  library(level: LogLevel, message: string): void {
    this.write(libraryLine(level, message));
  }

  /** The server's own logger: timestamped, untagged. */
  server(level: LogLevel, message: string, error?: ErrorForLog): void {
    this.write(serverLine(level, message, error));
  }

  /** `req.logger.error(error)`: winston prints the message, then ` - ` and the stack. */
  serverError(error: ErrorForLog): void {
    this.server('error', error.message, error);
  }
}

/** Frames of `JSON.parse` throwing inside the server's res.send wrapper, called from the healthz handler. */
export const HEALTHZ_REJECTION_FRAMES = [
  '    at JSON.parse (<anonymous>)',
  `    at res.send (${ENGINE_ROOT}/dist/index.js:84:21)`,
  `    at healthz (${ENGINE_ROOT}/dist/middleware/healthCheck.js:32:21)`,
  `    at Layer.handle [as handle_request] (${ENGINE_ROOT}/node_modules/express/lib/router/layer.js:95:5)`,
  `    at next (${ENGINE_ROOT}/node_modules/express/lib/router/route.js:149:13)`,
];

export const CLOSE_TYPEERROR_FRAMES = [
  `    at closeSession (${ENGINE_ROOT}/dist/controller/sessionController.js:264:24)`,
  `    at Layer.handle [as handle_request] (${ENGINE_ROOT}/node_modules/express/lib/router/layer.js:95:5)`,
  `    at next (${ENGINE_ROOT}/node_modules/express/lib/router/route.js:149:13)`,
  `    at ${ENGINE_ROOT}/dist/middleware/auth.js:75:11`,
];

export const NAVIGATE_FRAMES = [
  `    at navigate (${ENGINE_ROOT}/node_modules/puppeteer-core/lib/cjs/puppeteer/cdp/Frame.js:189:27)`,
  `    at async Deferred.race (${ENGINE_ROOT}/node_modules/puppeteer-core/lib/cjs/puppeteer/util/Deferred.js:36:20)`,
  `    at async CdpFrame.goto (${ENGINE_ROOT}/node_modules/puppeteer-core/lib/cjs/puppeteer/cdp/Frame.js:155:25)`,
  `    at async CdpPage.goto (${ENGINE_ROOT}/node_modules/puppeteer-core/lib/cjs/puppeteer/api/Page.js:580:20)`,
  `    at async initWhatsapp (${ENGINE_ROOT}/node_modules/@wppconnect-team/wppconnect/dist/controllers/browser.js:139:5)`,
  `    at async Whatsapp.start (${ENGINE_ROOT}/node_modules/@wppconnect-team/wppconnect/dist/api/layers/host.layer.js:137:9)`,
  `    at async create (${ENGINE_ROOT}/node_modules/@wppconnect-team/wppconnect/dist/controllers/initializer.js:218:9)`,
  `    at async CreateSessionUtil.createSessionUtil (${ENGINE_ROOT}/dist/util/createSessionUtil.js:63:25)`,
];

/** puppeteer's BrowserLauncher refusing a profile held by a live browser. */
export const ALREADY_RUNNING_FRAMES = [
  `    at ChromeLauncher.launch (${ENGINE_ROOT}/node_modules/puppeteer-core/lib/cjs/puppeteer/node/BrowserLauncher.js:182:23)`,
  '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
  `    at async PuppeteerExtra.launch (${ENGINE_ROOT}/node_modules/puppeteer-extra/dist/index.cjs.js:128:25)`,
  `    at async initBrowser (${ENGINE_ROOT}/node_modules/@wppconnect-team/wppconnect/dist/controllers/browser.js:286:19)`,
  `    at async create (${ENGINE_ROOT}/node_modules/@wppconnect-team/wppconnect/dist/controllers/initializer.js:142:19)`,
  `    at async CreateSessionUtil.createSessionUtil (${ENGINE_ROOT}/dist/util/createSessionUtil.js:63:25)`,
];

/** @puppeteer/browsers' launch.js rejecting when the browser process closed (exit code) or could not spawn. */
export const LAUNCH_CLOSE_FRAMES = [
  `    at ChildProcess.onClose (${ENGINE_ROOT}/node_modules/@puppeteer/browsers/lib/cjs/launch.js:350:24)`,
  '    at ChildProcess.emit (node:events:524:28)',
  '    at ChildProcess._handle.onexit (node:internal/child_process:291:12)',
];

export const SPAWN_ERROR_FRAMES = [
  ...LAUNCH_CLOSE_FRAMES,
  '    at onErrorNT (node:internal/child_process:483:16)',
  '    at process.processTicksAndRejections (node:internal/process/task_queues:82:21)',
];

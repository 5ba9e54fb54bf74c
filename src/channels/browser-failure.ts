import { GatewayError, type ErrorCode } from '../errors';

/**
 * How a failed browser start (or a dead page) is recognised from text: engine answers, engine log lines
 * (EngineLogReader) and Chromium's own stderr that puppeteer copies into its error. Over HTTP every launch
 * failure looks the same (CLOSED, then INITIALIZING forever, no webhook: wppconnect-engine.md §3.2, §5.2), so this
 * text is the only evidence of *why*. `docs/browser-failures.md` documents this table row by row.
 */
export interface BrowserFailureRule {
  /** Stable id, reported as `rule` and used in docs and tests. */
  id: string;
  code: ErrorCode;
  /** Matched against each text with ANSI colours removed; never spans lines. */
  pattern: RegExp;
  /** What an operator can do about this particular cause (more precise than the catalog's generic hint). */
  hint: string;
  /** Where the string comes from. */
  source: string;
}

const PROFILE_HINT_FOREIGN =
  'The SingletonLock in userDataDir/<channel>/ names another host (a container recreated with a new hostname). Give the engine container a fixed hostname; set WPPCONNECT_USER_DATA_DIR so the gateway removes the stale lock before restarting.';
const PROFILE_HINT_LIVE =
  "A Chromium still runs on userDataDir/<channel>/: WPPConnect's close-session leaves the browser of a start that never logged in running (wppconnect-engine.md §7.3), and a crash or a SIGKILL of the engine orphans them. On the engine host the gateway ends it before the next start (WPPCONNECT_USER_DATA_DIR set, KILL_ORPHAN_BROWSERS not false); from another host restart the WPPConnect Server process, which ends its browsers.";

/**
 * Ordered by priority: the first rule that matches any text wins. Profile-lock rules come before the generic
 * "Failed to launch the browser process" (the Code 21 line contains it), launch failures before navigation, and
 * the bare "Protocol error" last because more precise page-closed strings start with it.
 */
export const BROWSER_FAILURE_RULES: readonly BrowserFailureRule[] = [
  {
    id: 'chrome-code-21',
    code: 'BROWSER_PROFILE_LOCKED',
    // Puppeteer 24 writes two spaces after the colon; older ones wrote "process!". Be tolerant of both.
    pattern: /Failed to launch the browser process[:!]?\s*Code:\s*21\b/i,
    hint: `Chrome exited with Code 21 (RESULT_CODE_PROFILE_IN_USE). ${PROFILE_HINT_FOREIGN}`,
    source: 'wppconnect-engine.md §5.1, §5.2; wppconnect-server#1844, wppconnect#2259',
  },
  {
    id: 'profile-in-use-other-host',
    code: 'BROWSER_PROFILE_LOCKED',
    // Chromium's stderr; Google Chrome says "another Google Chrome process".
    pattern: /profile appears to be in use by another [^\n]*?process/i,
    hint: PROFILE_HINT_FOREIGN,
    source: 'wppconnect-engine.md §5.1 (Chromium 156 stderr); wppconnect#2259',
  },
  {
    id: 'browser-already-running',
    code: 'BROWSER_ALREADY_RUNNING',
    // Puppeteer >= 22 rewrites Chromium's "File exists (17)" into this sentence. Not Code 21: puppeteer refuses before
    // Chromium runs, and the cure differs (end the browser, not remove a lock).
    pattern: /The browser is already running for\b/i,
    hint: PROFILE_HINT_LIVE,
    source: 'wppconnect-engine.md §5.2 (puppeteer-core BrowserLauncher)',
  },
  {
    id: 'singleton-lock-exists',
    code: 'BROWSER_ALREADY_RUNNING',
    pattern: /SingletonLock\b[^\n]*File exists/i,
    hint: PROFILE_HINT_LIVE,
    source: 'wppconnect-engine.md §5.1; wppconnect#2167',
  },
  {
    id: 'process-singleton',
    code: 'BROWSER_ALREADY_RUNNING',
    pattern: /Failed to create a ProcessSingleton\b/i,
    hint: PROFILE_HINT_LIVE,
    source: 'wppconnect-engine.md §5.1 (Chromium 156 stderr)',
  },
  {
    id: 'spawn-eacces',
    code: 'BROWSER_LAUNCH_FAILED',
    pattern: /\bspawn\b[^\n]*?\bEACCES\b/,
    hint: 'The browser executable is not executable by the engine user. Check CHROME_PATH (the engine ignores executablePath in its config) and the file mode.',
    source: 'wppconnect-engine.md §5.2 (observed with a non-executable CHROME_PATH)',
  },
  {
    id: 'spawn-enoent',
    code: 'BROWSER_LAUNCH_FAILED',
    pattern: /\bspawn\b[^\n]*?\bENOENT\b/,
    hint: 'The browser executable does not exist. Install Chromium on the engine host or point CHROME_PATH at it.',
    source: 'Node child_process spawn error, same shape as the EACCES case in wppconnect-engine.md §5.2',
  },
  {
    id: 'missing-shared-library',
    code: 'BROWSER_LAUNCH_FAILED',
    pattern: /error while loading shared libraries/i,
    hint: "Chromium's system libraries are missing on the engine host (e.g. libnss3). Install the distribution's chromium package or its dependencies.",
    source: 'ld.so message; puppeteer troubleshooting',
  },
  {
    id: 'root-without-no-sandbox',
    code: 'BROWSER_LAUNCH_FAILED',
    pattern: /Running as root without --no-sandbox is not supported/i,
    hint: "The engine runs as root and its browserArgs lost --no-sandbox. Restore the engine's default browserArgs or run it as a normal user.",
    source: 'wppconnect-engine.md §5.2 (observed with bare Chromium, exit 1)',
  },
  {
    id: 'launch-failed',
    code: 'BROWSER_LAUNCH_FAILED',
    // Generic: reached only when no profile-lock rule matched, so it is not Code 21.
    pattern: /Failed to launch the browser process\b/i,
    hint: "Chromium exited during launch. The engine log lines after this one hold Chromium's stderr with the cause.",
    source: 'wppconnect-engine.md §5.2 (@puppeteer/browsers launch.js)',
  },
  {
    id: 'net-error-wa-web',
    code: 'WA_WEB_UNREACHABLE',
    pattern: /\bnet::ERR_[A-Z_]+\s+at\s+https?:\/\/web\.whatsapp\.com/i,
    hint: 'page.goto(web.whatsapp.com) failed on the engine host. Check its network, DNS and proxy; the browser is left running and holding the profile until the channel restarts.',
    source: 'wppconnect-engine.md §5.4 (observed net::ERR_INTERNET_DISCONNECTED)',
  },
  {
    id: 'cdp-session-closed',
    code: 'ENGINE_PAGE_CLOSED',
    pattern: /Session closed\.\s*Most likely the page has been closed/i,
    hint: 'The CDP session of the WhatsApp page is gone (autoclose, close-session or a crash): the engine client is a zombie and the channel is restarted.',
    source: 'wppconnect-engine.md §5.4 (puppeteer cdp/CdpSession.js)',
  },
  {
    id: 'target-closed',
    code: 'ENGINE_PAGE_CLOSED',
    pattern: /\bTarget ?Close(?:d\b|Error\b)/i,
    hint: 'The page or browser closed while a call was in flight (crash, OOM, kill). If it repeats, check the engine host memory.',
    source: 'wppconnect-engine.md §5.4 (puppeteer common/CallbackRegistry.js, cdp/Page.js)',
  },
  {
    id: 'connection-closed',
    code: 'ENGINE_PAGE_CLOSED',
    pattern: /\bConnection closed\./,
    hint: "The browser process or its DevTools websocket is gone. If it repeats, check the engine host memory and Chromium's stability.",
    source: 'wppconnect-engine.md §5.4 (puppeteer cdp/Connection.js)',
  },
  {
    id: 'frame-detached',
    code: 'ENGINE_PAGE_CLOSED',
    pattern: /Navigating frame was detached|Attempted to use detached Frame/i,
    hint: 'The page closed during a navigation or a call; the channel is restarted.',
    source: 'wppconnect-engine.md §5.4',
  },
  {
    id: 'protocol-error',
    code: 'ENGINE_PAGE_CLOSED',
    pattern: /\bProtocol error\b/i,
    hint: 'A DevTools protocol call to the WhatsApp page failed; the page is most likely gone and the channel is restarted.',
    source: 'wppconnect-engine.md §3.5, §5.4',
  },
];

export interface BrowserFailureMatch {
  code: ErrorCode;
  /** The line (of the text) that matched, ANSI-free, trimmed and at most 500 characters. */
  matched: string;
  /** The `id` of the rule that matched. */
  rule: string;
  /** The rule's operator hint. */
  hint: string;
}

// Winston's colorize() and pm2 keep ANSI colour codes in log files.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const MAX_MATCHED = 500;

/**
 * The first rule (in table order) that matches any of `texts`, or null when there is no evidence; the caller then
 * reports ENGINE_START_STUCK (or whatever its own state says). Priority is by rule, not by text order, so a Code 21
 * line wins over the generic launch failure next to it.
 */
export function classifyBrowserFailure(texts: string[]): BrowserFailureMatch | null {
  const clean = texts.filter((t) => typeof t === 'string' && t.length > 0).map((t) => t.replace(ANSI, ''));
  for (const rule of BROWSER_FAILURE_RULES) {
    for (const text of clean) {
      const found = rule.pattern.exec(text);
      if (found) return { code: rule.code, matched: lineAt(text, found.index), rule: rule.id, hint: rule.hint };
    }
  }
  return null;
}

/** A GatewayError for a match: the catalog's sentence for the Hub user, the rule's hint for the operator. */
export function browserFailureError(match: BrowserFailureMatch, cause?: unknown): GatewayError {
  return new GatewayError(match.code, {
    hint: match.hint,
    cause,
    details: { reason: match.rule, evidence: match.matched },
  });
}

function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index) + 1;
  const end = text.indexOf('\n', index);
  const line = text.slice(start, end === -1 ? undefined : end).trim();
  return line.length > MAX_MATCHED ? `${line.slice(0, MAX_MATCHED)}…` : line;
}

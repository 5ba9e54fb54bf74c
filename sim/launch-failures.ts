import {
  ALREADY_RUNNING_FRAMES,
  type ErrorForLog,
  LAUNCH_CLOSE_FRAMES,
  NAVIGATE_FRAMES,
  SPAWN_ERROR_FRAMES,
} from './engine-log';

/**
 * Browser launch / navigation failures and the text the real engine logs for each (wppconnect-engine.md §5.2, §7.3,
 * test/fixtures/engine-log). Over HTTP all of them look the same: start-session answers CLOSED, the session then sits
 * in INITIALIZING forever, and no webhook is sent. Only the log tells them apart.
 */
export type FailMode = 'code21' | 'browser-running' | 'eacces' | 'net' | 'stuck';

export const FAIL_MODES: readonly FailMode[] = ['code21', 'browser-running', 'eacces', 'net', 'stuck'];

export function isFailMode(value: unknown): value is FailMode {
  return typeof value === 'string' && (FAIL_MODES as readonly string[]).includes(value);
}

/** What a failed start looks like: no browser at all, or a browser whose page never gets to WhatsApp Web. */
export type LaunchFailure =
  /** puppeteer.launch() rejected: `[s:browser] Error no open browser`, the message, then the server's entry. */
  | { kind: 'launch'; error: ErrorForLog }
  /** The browser runs, page.goto failed: one untagged server entry; the browser keeps holding the profile. */
  | { kind: 'navigation'; error: ErrorForLog }
  /** The browser runs, WhatsApp Web never becomes ready and nothing is logged at error level for a long time. */
  | { kind: 'stuck' };

export const DEFAULT_CHROME = '/usr/bin/chromium';

/**
 * @puppeteer/browsers' text when the browser process closed before its DevTools endpoint showed up (launch.js
 * 350-360): two spaces after "process:", then Chromium's stderr and the troubleshooting link. It ends with a newline,
 * which is why the log shows a blank line after the link.
 */
export function launchProcessMessage(reason: string, stderr: string): string {
  return `Failed to launch the browser process:  ${reason}\n\nstderr:\n${stderr}\n\nTROUBLESHOOTING: https://pptr.dev/troubleshooting\n`;
}

/** Chromium's log-line prefix: `[pid:tid:MMDD/HHMMSS.micro:ERROR:file:line]` in local time. */
function chromiumPrefix(pid: number, at: Date, where: string): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp =
    `${two(at.getMonth() + 1)}${two(at.getDate())}/` +
    `${two(at.getHours())}${two(at.getMinutes())}${two(at.getSeconds())}.` +
    `${String(at.getMilliseconds() * 1000 + Math.floor(Math.random() * 1000)).padStart(6, '0')}`;
  return `[${pid}:${pid}:${stamp}:ERROR:${where}]`;
}

/**
 * Chromium exits 21 (RESULT_CODE_PROFILE_IN_USE) on a SingletonLock that names another host (§5.1). The stderr as
 * Debian's Chromium wrapper prints it, with the wrapper's own noise lines around Chromium's.
 */
export function code21Error(lock: { host: string; pid: number }, chromiumPid: number, at = new Date()): ErrorForLog {
  const stderr = [
    `${DEFAULT_CHROME}: 9: [: 25276059648: unexpected operator`,
    `${chromiumPrefix(chromiumPid, at, 'chrome/browser/process_singleton_posix.cc:367')} The profile appears to be in use by another Chromium process (${lock.pid}) on another computer (${lock.host}). Chromium has locked the profile so that it doesn't get corrupted. If you are sure no other processes are using this profile, you can unlock the profile and relaunch Chromium.`,
    "Error: Can't open display: ",
  ].join('\n');
  return { name: 'Error', message: launchProcessMessage('Code: 21', stderr), frames: LAUNCH_CLOSE_FRAMES };
}

/** puppeteer >= 22 rewrites Chromium's "Failed to create a ProcessSingleton" for a profile held by a live browser. */
export function alreadyRunningError(profile: string): ErrorForLog {
  return {
    name: 'Error',
    message: `The browser is already running for ${profile}. Use a different \`userDataDir\` or stop the running browser first.`,
    frames: ALREADY_RUNNING_FRAMES,
  };
}

/** child_process.spawn failing on the executable (CHROME_PATH missing: ENOENT; not executable: EACCES). */
export function spawnError(executable: string, code: 'EACCES' | 'ENOENT'): ErrorForLog {
  return {
    name: 'Error',
    message: launchProcessMessage(`spawn ${executable} ${code}`, ''),
    frames: SPAWN_ERROR_FRAMES,
  };
}

/** page.goto('https://web.whatsapp.com') failing; other net::ERR_* codes have the same shape (§7.3). */
export function navigationError(code = 'ERR_INTERNET_DISCONNECTED'): ErrorForLog {
  const message = `net::${code} at https://web.whatsapp.com`;
  return { name: 'Error', message, frames: NAVIGATE_FRAMES };
}

/** The failure a forced `failNextStart(mode)` produces. `profile` is the absolute profile path. */
export function launchFailure(
  mode: FailMode,
  profile: string,
  extra: { lock?: { host: string; pid: number }; chromePath?: string } = {},
): LaunchFailure {
  switch (mode) {
    case 'code21':
      return { kind: 'launch', error: code21Error(extra.lock ?? { host: 'otherhost', pid: 12345 }, randomPid()) };
    case 'browser-running':
      return { kind: 'launch', error: alreadyRunningError(profile) };
    case 'eacces':
      return { kind: 'launch', error: spawnError(extra.chromePath ?? DEFAULT_CHROME, 'EACCES') };
    case 'net':
      return { kind: 'navigation', error: navigationError() };
    case 'stuck':
      return { kind: 'stuck' };
  }
}

/** A plausible pid for a Chromium that only lived long enough to print its error. */
export function randomPid(): number {
  return 2000 + Math.floor(Math.random() * 60_000);
}

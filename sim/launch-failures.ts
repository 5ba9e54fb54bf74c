/**
 * Browser launch / navigation failures and the log text the real engine writes for each (wppconnect-engine.md
 * §5.2). Over HTTP all of them look the same: start-session answers CLOSED, the session then sits in INITIALIZING
 * forever, and no webhook is sent. Only the log tells them apart.
 */
export type FailMode = 'code21' | 'browser-running' | 'eacces' | 'net' | 'stuck';

export const FAIL_MODES: readonly FailMode[] = ['code21', 'browser-running', 'eacces', 'net', 'stuck'];

export function isFailMode(value: unknown): value is FailMode {
  return typeof value === 'string' && (FAIL_MODES as readonly string[]).includes(value);
}

export interface LaunchFailure {
  /** Whether a Chromium process is left running on the profile (it is after a navigation failure). */
  browserLeftRunning: boolean;
  /** Log lines; the first is prefixed with `[<session>:browser]` by the writer. */
  lines: string[];
  /** Whether the library logs its "Error no open browser" line before the message. */
  noOpenBrowser: boolean;
}

export function launchFailure(mode: FailMode, session: string, userDataDir: string): LaunchFailure {
  const profile = `${userDataDir.replace(/\/?$/, '/')}${session}`;
  switch (mode) {
    case 'code21':
      // A SingletonLock naming another host (a container recreated with a new hostname): Chromium exits 21.
      // Puppeteer 24 builds this text with two spaces after "process:".
      return {
        browserLeftRunning: false,
        noOpenBrowser: true,
        lines: [
          'Failed to launch the browser process:  Code: 21',
          '',
          'stderr:',
          "The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted. If you are sure no other processes are using this profile, you can unlock the profile and relaunch Chromium.",
          '',
          '',
          'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
        ],
      };
    case 'browser-running':
      // A live Chromium on the same profile: puppeteer >= 22 rewrites Chromium's "File exists (17)" to this.
      return {
        browserLeftRunning: false,
        noOpenBrowser: true,
        lines: [
          `The browser is already running for ${profile}. Use a different \`userDataDir\` or stop the running browser first.`,
        ],
      };
    case 'eacces':
      return {
        browserLeftRunning: false,
        noOpenBrowser: true,
        lines: ['Failed to launch the browser process:  spawn /usr/bin/chromium EACCES'],
      };
    case 'net':
      // The browser started; page.goto failed. The browser stays up and keeps holding the profile.
      return {
        browserLeftRunning: true,
        noOpenBrowser: false,
        lines: ['net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com'],
      };
    case 'stuck':
      // WA Web never becomes ready and nothing is logged at error level for a long time (e.g. an outdated WA-JS).
      return { browserLeftRunning: true, noOpenBrowser: false, lines: [] };
  }
}

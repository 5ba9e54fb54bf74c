import type { ChildProcess } from 'node:child_process';
import { recorded } from './recorded-shapes';
import {
  browsersOn,
  contractTarget,
  contractTest,
  LogWatch,
  plantForeignLock,
  processAlive,
  processReaped,
  signal,
  sleep,
  waitFor,
  waitForStatus,
} from './target';

/**
 * The engine contract, browser side: how WPPConnect Server 2.10.4 launches (or fails to launch) Chromium on
 * `<userDataDir>/<session>`, what it leaves running, and what it writes in its log, as the gateway's start-failure
 * diagnostics and profile healing rely on (wppconnect-engine.md §5, §7.3). Most cases need the engine on this host.
 */

const target = contractTarget({ brokenChrome: true });
const engine = () => target.main.client;
const log = () => new LogWatch(String(target.main.logFile));
/** How long to wait for a browser or a log line: a real Chromium launches in about a second. */
const LAUNCH_MS = 20_000;
const SLOW = 60_000;

beforeAll(() => target.start(), 30_000);
afterAll(() => target.stop(), 60_000);

/** A recorded log line with the recorded session (and profile) swapped for ours. */
function expectedLine(line: string, recordedSession: string, session: string, profile?: string): string {
  let text = line.slice(line.indexOf('['));
  if (profile) text = text.replace(/ for \S+\. Use/, ` for ${profile}. Use`);
  return text.replace(`[${recordedSession}:`, `[${session}:`);
}

/** Status stays INITIALIZING for the target's "forever". */
async function expectStuckInitializing(session: string, client = engine()): Promise<void> {
  const reply = await waitForStatus(client, session, 'INITIALIZING');
  expect(reply.body).toEqual(recorded.statusInitializing);
  await sleep(target.holdMs);
  expect((await client.status(session)).body).toEqual(recorded.statusInitializing);
}

describe('a start while WhatsApp Web is unreachable', () => {
  let s = '';
  let watch: LogWatch | undefined;
  beforeAll(async () => {
    if (!target.can('host') && !target.can('log')) return;
    s = target.session('net');
    if (target.can('log')) watch = log();
    await engine().start(s);
  }, SLOW);

  contractTest(
    target,
    'stays INITIALIZING with its browser running on <userDataDir>/<session>',
    ['host'],
    async () => {
      const pids = await waitFor(
        'a browser on the profile',
        () => {
          const found = browsersOn(target.profile(s));
          return found.length > 0 ? found : undefined;
        },
        LAUNCH_MS,
      );

      await expectStuckInitializing(s);
      expect(pids.every(processAlive)).toBe(true);
    },
    SLOW,
  );

  contractTest(
    target,
    'logs an untagged "net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com" line from the server logger',
    ['log'],
    async () => {
      const line = await watch!.waitForLine(
        'net::ERR_INTERNET_DISCONNECTED',
        (l) => l.includes('net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com'),
        LAUNCH_MS,
      );

      // `error: <ISO timestamp> net::… - Error: net::…`: no `[<session>:…]` tag to attribute it by.
      expect(line).toMatch(
        /^error: \d{4}-\d\d-\d\dT[\d:.]+Z net::ERR_INTERNET_DISCONNECTED at https:\/\/web\.whatsapp\.com - Error: net::ERR_INTERNET_DISCONNECTED at https:\/\/web\.whatsapp\.com$/,
      );
      expect(line.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, '<ts>')).toBe(
        recorded.log.navigation.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, '<ts>'),
      );
      expect(line).not.toContain('[');
    },
    SLOW,
  );
});

describe('a foreign-host SingletonLock on the profile (a container recreated under a new hostname)', () => {
  let s = '';
  let watch: LogWatch | undefined;
  beforeAll(async () => {
    if (!target.can('host')) return;
    s = target.session('lock');
    plantForeignLock(target.profile(s));
    if (target.can('log')) watch = log();
    await engine().start(s);
  }, SLOW);

  contractTest(
    target,
    'keeps the session INITIALIZING, with no browser left on the profile',
    ['host'],
    async () => {
      await expectStuckInitializing(s);

      expect(browsersOn(target.profile(s))).toEqual([]);
    },
    SLOW,
  );

  contractTest(
    target,
    'logs "[<s>:browser] Failed to launch the browser process:  Code: 21", then Chromium\'s "on another computer" line',
    ['host', 'log'],
    async () => {
      const expected = expectedLine(recorded.log.code21, 's2', s);
      const line = await watch!.waitForLine(expected, (l) => l.includes(expected), LAUNCH_MS);

      expect(line.endsWith(expected)).toBe(true);
      const after = watch!.lines().slice(watch!.lines().indexOf(line));
      expect(after.some((l) => l.includes(recorded.log.code21Chromium))).toBe(true);
    },
    SLOW,
  );
});

describe('a live browser already on the profile', () => {
  let s = '';
  let watch: LogWatch | undefined;
  let holder: ChildProcess | undefined;
  beforeAll(async () => {
    if (!target.can('host', 'liveBrowser')) return;
    s = target.session('held');
    holder = await target.spawnLiveBrowser(target.profile(s));
    if (target.can('log')) watch = log();
    await engine().start(s);
  }, SLOW);

  contractTest(
    target,
    'keeps the session INITIALIZING and launches no second browser on the profile',
    ['host', 'liveBrowser'],
    async () => {
      await expectStuckInitializing(s);

      expect(browsersOn(target.profile(s))).toEqual([holder!.pid]);
    },
    SLOW,
  );

  contractTest(
    target,
    'logs "[<s>:browser] The browser is already running for <profile>", with no Code 21',
    ['host', 'liveBrowser', 'log'],
    async () => {
      const expected = expectedLine(recorded.log.alreadyRunning, 's1', s, target.profile(s));
      const line = await watch!.waitForLine(expected, (l) => l.includes(expected), LAUNCH_MS);

      expect(line.endsWith(expected)).toBe(true);
      expect(watch!.lines().filter((l) => l.includes(`[${s}:`) && l.includes('Code: 21'))).toEqual([]);
    },
    SLOW,
  );
});

describe('the browser left behind by close-session on an INITIALIZING session', () => {
  let s = '';
  let orphan = 0;
  let watch: LogWatch | undefined;

  contractTest(
    target,
    'close-session answers 500 and status-session says CLOSED, but the browser keeps running on the profile',
    ['host'],
    async () => {
      s = target.session('orphan');
      await engine().start(s);
      const pids = await waitFor(
        'a browser on the profile',
        () => {
          const found = browsersOn(target.profile(s));
          return found.length > 0 ? found : undefined;
        },
        LAUNCH_MS,
      );
      expect(pids).toHaveLength(1);
      orphan = pids[0];

      const close = await engine().close(s);
      expect(close.status).toBe(500);
      expect(close.body).toEqual(recorded.closeError);
      expect((await engine().status(s)).body).toEqual(recorded.statusClosed);

      await sleep(target.holdMs);
      expect(processAlive(orphan)).toBe(true);
      expect(browsersOn(target.profile(s))).toEqual([orphan]);
    },
    SLOW,
  );

  contractTest(
    target,
    'a new start-session stays INITIALIZING while that browser lives, and launches none of its own',
    ['host'],
    async () => {
      expect(orphan).toBeGreaterThan(0);
      if (target.can('log')) watch = log();

      const start = await engine().start(s);
      expect(start.body).toEqual(recorded.startAfterCloseJson);
      await expectStuckInitializing(s);
      expect(browsersOn(target.profile(s))).toEqual([orphan]);
    },
    SLOW,
  );

  contractTest(
    target,
    'that start logs "[<s>:browser] The browser is already running for <profile>"',
    ['host', 'log'],
    async () => {
      const expected = expectedLine(recorded.log.alreadyRunning, 's1', s, target.profile(s));

      await watch!.waitForLine(expected, (l) => l.includes(expected), LAUNCH_MS);
    },
    SLOW,
  );

  contractTest(
    target,
    'once that browser is ended with SIGTERM, close-session then start-session launch a new browser',
    ['host'],
    async () => {
      expect(orphan).toBeGreaterThan(0);
      signal(orphan, 'SIGTERM');
      // Exited and reaped by the engine, so the engine itself knows it ended (processReaped).
      await waitFor('the orphan browser to exit', () => (processReaped(orphan) ? true : undefined), 10_000);

      const close = await engine().close(s);
      expect(close.status).toBe(500);
      expect(close.body).toEqual(recorded.closeError);
      await engine().start(s);
      const fresh = await waitFor(
        'a new browser on the profile',
        () => {
          const found = browsersOn(target.profile(s));
          return found.length > 0 ? found : undefined;
        },
        LAUNCH_MS,
      );

      expect(fresh).toHaveLength(1);
      expect(fresh[0]).not.toBe(orphan);
      await expectStuckInitializing(s);
    },
    SLOW,
  );
});

describe('a non-executable CHROME_PATH', () => {
  const broken = () => target.broken.client;
  let s = '';
  let watch: LogWatch | undefined;
  beforeAll(async () => {
    if (!target.can('brokenChrome')) return;
    s = target.session('eacces', target.broken);
    if (target.can('brokenChromeLog')) watch = new LogWatch(String(target.broken.logFile));
    await broken().start(s);
  }, SLOW);

  contractTest(
    target,
    'keeps the session INITIALIZING',
    ['brokenChrome'],
    async () => {
      await expectStuckInitializing(s, broken());
    },
    SLOW,
  );

  contractTest(
    target,
    'logs "[<s>:browser] Failed to launch the browser process:  spawn <CHROME_PATH> EACCES"',
    ['brokenChrome', 'brokenChromeLog'],
    async () => {
      const prefix = `[${s}:browser] Failed to launch the browser process:  spawn `;
      const line = await watch!.waitForLine(prefix, (l) => l.includes(prefix), LAUNCH_MS);

      // The recorded line, with our session and any CHROME_PATH.
      const shape = expectedLine(recorded.log.eacces, 'e1', s).replace(/spawn \S+ EACCES$/, 'spawn <path> EACCES');
      expect(line.slice(line.indexOf('[')).replace(/spawn \S+ EACCES$/, 'spawn <path> EACCES')).toBe(shape);
    },
    SLOW,
  );
});

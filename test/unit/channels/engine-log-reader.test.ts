import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyBrowserFailure } from '../../../src/channels/browser-failure';
import { EngineLogReader } from '../../../src/channels/engine-log-reader';
import { createMemoryLogger, createSilentLogger } from '../../../src/logger';

const FIXTURES = path.join(__dirname, '../../fixtures/engine-log');
/** The real engine's stdout (ANSI colours kept): s1 with WhatsApp Web unreachable, then s2 with a foreign-host lock. */
const REAL_LOG = fs.readFileSync(path.join(FIXTURES, 'wppconnect-2.10.4-real.log'), 'utf8');
/** The real engine started with CHROME_PATH pointing at a non-executable file; session e1. */
const REAL_EACCES_LOG = fs.readFileSync(path.join(FIXTURES, 'wppconnect-2.10.4-real-eacces.log'), 'utf8');

/** Where the line holding the `nth` occurrence of `needle` starts in `text`. */
const lineStart = (text: string, needle: string, nth = 1): number => {
  let index = -1;
  for (let i = 0; i < nth; i++) {
    index = text.indexOf(needle, index + 1);
    if (index === -1) throw new Error(`fixture has no ${nth}. ${needle}`);
  }
  return text.lastIndexOf('\n', index) + 1;
};
/** The fixture's lines from the one holding `from` (or its start) up to the one holding `to` (or its end), excluded. */
const slice = (text: string, from: [string, number?] | null, to: [string, number?] | null): string =>
  text.slice(from ? lineStart(text, ...from) : 0, to ? lineStart(text, ...to) : text.length);

const t = (iso: string) => Date.parse(`2026-12-01T${iso}Z`);
const STACK = /^\s+at\s/;
const CHROMIUM_LOCK_LINE =
  "[5875:5875:1201/150235.151658:ERROR:chrome/browser/process_singleton_posix.cc:367] The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted. If you are sure no other processes are using this profile, you can unlock the profile and relaunch Chromium.";

let workDir: string;
let file: string;

beforeEach(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-engine-log-'));
  file = path.join(workDir, 'app.log');
});

afterEach(() => fs.rmSync(workDir, { recursive: true, force: true }));

const append = (text: string) => fs.appendFileSync(file, text);

/** One engine log entry as the stand-in engine (and the real server's file) writes it: the tag on the first line only. */
const entry = (level: string, lines: string[]) => `2026-11-22T10:00:00.000Z ${level}: ${lines.join('\n')}\n`;

const CODE_21_ENTRY = entry('error', [
  '[s1:browser] Failed to launch the browser process:  Code: 21',
  '',
  'stderr:',
  "The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted.",
  '',
  '',
  'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
]);

describe('EngineLogReader', () => {
  test('When lines are appended between polls, then each poll adds only the new lines for that session', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(entry('error', ['[s1:browser] Error no open browser']));

    // Act
    reader.poll();
    const first = reader.recentLines('s1');
    append(entry('info', ['[s1:browser] Launching browser...']));
    reader.poll();
    reader.poll();

    // Assert
    expect(first).toEqual(['2026-11-22T10:00:00.000Z error: [s1:browser] Error no open browser']);
    expect(reader.recentLines('s1')).toEqual([
      '2026-11-22T10:00:00.000Z error: [s1:browser] Error no open browser',
      '2026-11-22T10:00:00.000Z info: [s1:browser] Launching browser...',
    ]);
  });

  test('When the Code 21 message spans lines, then the stderr lines are attached to the tagged session and classify', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(entry('error', ['[s1:browser] Error no open browser']) + CODE_21_ENTRY);

    // Act
    reader.poll();
    const lines = reader.recentLines('s1');

    // Assert
    expect(lines).toEqual([
      '2026-11-22T10:00:00.000Z error: [s1:browser] Error no open browser',
      '2026-11-22T10:00:00.000Z error: [s1:browser] Failed to launch the browser process:  Code: 21',
      'stderr:',
      "The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted.",
      'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
    ]);
    expect(classifyBrowserFailure(lines)).toMatchObject({ code: 'BROWSER_PROFILE_LOCKED', rule: 'chrome-code-21' });
  });

  test('When an untagged entry follows a kept one, then the continuation stops there', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(
      entry('error', ['[s1:browser] net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com', '    at navigate']) +
        entry('info', ['Server is running on port: 21465', 'continuation of an untagged entry']) +
        entry('error', ['[s2:browser] Failed to launch the browser process:  spawn /usr/bin/chromium EACCES']),
    );

    // Act
    reader.poll();

    // Assert
    expect(reader.recentLines('s1')).toEqual([
      '2026-11-22T10:00:00.000Z error: [s1:browser] net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com',
      '    at navigate',
    ]);
    expect(reader.recentLines('s2')).toHaveLength(1);
    expect(reader.sessions()).toEqual(['s1', 's2']);
  });

  test('When a line is tagged with the session name in another case, then it belongs to that other session', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(entry('error', ['[S1:browser] The browser is already running for /data/S1.']));

    // Act
    reader.poll();

    // Assert
    expect(reader.recentLines('s1')).toEqual([]);
    expect(reader.recentLines('S1')).toHaveLength(1);
  });

  test('When a line is tagged [s1] or [s1:client], then only the error-level ones are kept', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(
      entry('info', ['[s1] Session Unpaired', 'continuation of an info entry']) +
        entry('info', ['[s1:client] http => Waiting page load']) +
        entry('error', ['[s1] Protocol error (Runtime.callFunctionOn): Target closed']) +
        entry('error', ['[s1:client] wapi.js failed']),
    );

    // Act
    reader.poll();

    // Assert
    expect(reader.recentLines('s1')).toEqual([
      '2026-11-22T10:00:00.000Z error: [s1] Protocol error (Runtime.callFunctionOn): Target closed',
      '2026-11-22T10:00:00.000Z error: [s1:client] wapi.js failed',
    ]);
  });

  test('When the file is truncated, then reading restarts at its start', () => {
    // Arrange
    const logger = createMemoryLogger();
    const reader = new EngineLogReader({ file, logger });
    append(entry('error', ['[s1:browser] first entry, long enough to be longer than what replaces it']));
    reader.poll();

    // Act
    fs.writeFileSync(file, entry('error', ['[s1:browser] after truncation']));
    reader.poll();

    // Assert
    expect(reader.recentLines('s1', 1)).toEqual(['2026-11-22T10:00:00.000Z error: [s1:browser] after truncation']);
    expect(logger.lines.map((l) => l.message)).toContain('engine log truncated or rotated; reading it from the start');
  });

  test('When the file is rotated (a new inode, even a larger one), then the new file is read from its start', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(entry('error', ['[s1:browser] old']));
    reader.poll();

    // Act
    fs.renameSync(file, `${file}.1`);
    append(entry('error', ['[s1:browser] new file, first line, longer than the old file was']));
    append(entry('error', ['[s1:browser] new file, second line']));
    reader.poll();

    // Assert
    expect(reader.recentLines('s1')).toEqual([
      '2026-11-22T10:00:00.000Z error: [s1:browser] old',
      '2026-11-22T10:00:00.000Z error: [s1:browser] new file, first line, longer than the old file was',
      '2026-11-22T10:00:00.000Z error: [s1:browser] new file, second line',
    ]);
  });

  test('When a poll sees half a line, then the line is kept only once it is complete', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append('2026-11-22T10:00:00.000Z error: [s1:browser] Failed to launch the browser process:');

    // Act
    reader.poll();
    const before = reader.recentLines('s1');
    append('  Code: 21\n');
    reader.poll();

    // Assert
    expect(before).toEqual([]);
    expect(classifyBrowserFailure(reader.recentLines('s1'))?.code).toBe('BROWSER_PROFILE_LOCKED');
  });

  test('When the backlog is larger than maxReadBytes, then only its newest full lines are read', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger(), maxReadBytes: 4096 });
    for (let i = 0; i < 500; i++) append(entry('error', [`[s1:browser] line ${i}`]));

    // Act
    reader.poll();
    const lines = reader.recentLines('s1');

    // Assert
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.length).toBeLessThan(100);
    expect(lines[lines.length - 1]).toBe('2026-11-22T10:00:00.000Z error: [s1:browser] line 499');
    for (const line of lines) expect(line).toMatch(/^2026-11-22T10:00:00.000Z error: \[s1:browser\] line \d+$/);
  });

  test('When a session logs more than maxLinesPerSession, then only the newest are kept and limit trims further', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger(), maxLinesPerSession: 3 });
    for (let i = 0; i < 10; i++) append(entry('error', [`[s1:browser] line ${i}`]));

    // Act
    reader.poll();

    // Assert
    expect(reader.recentLines('s1').map((l) => l.slice(-6))).toEqual(['line 7', 'line 8', 'line 9']);
    expect(reader.recentLines('s1', 1).map((l) => l.slice(-6))).toEqual(['line 9']);
    expect(reader.recentLines('s1', 0)).toEqual([]);
  });

  test('When the log uses the console format with colours, a pm2 prefix or JSON lines, then the session is still found', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(
      '\u001b[31merror\u001b[39m: 2026-11-22T10:00:00.000Z [c1:browser] Error no open browser\n' +
        '0|wpp-server  | error: 2026-11-22T10:00:00.000Z [c2:browser] The browser is already running for /d/c2.\n' +
        JSON.stringify({
          level: 'error',
          message:
            '[c3:browser] Failed to launch the browser process:  Code: 21\n\nstderr:\nThe profile appears to be in use',
          timestamp: '2026-11-22T10:00:00.000Z',
        }) +
        '\n',
    );

    // Act
    reader.poll();

    // Assert
    expect(reader.recentLines('c1')).toEqual(['error: 2026-11-22T10:00:00.000Z [c1:browser] Error no open browser']);
    expect(classifyBrowserFailure(reader.recentLines('c2'))?.rule).toBe('browser-already-running');
    expect(reader.recentLines('c3')).toEqual([
      '[c3:browser] Failed to launch the browser process:  Code: 21',
      'stderr:',
      'The profile appears to be in use',
    ]);
  });

  test('When the session is cleared before a new start, then its old lines no longer explain anything', () => {
    // Arrange
    const reader = new EngineLogReader({ file, logger: createSilentLogger() });
    append(CODE_21_ENTRY);
    reader.poll();

    // Act
    reader.clear('s1');
    reader.poll();

    // Assert
    expect(reader.recentLines('s1')).toEqual([]);
  });

  test('When the log file does not exist yet, then poll does not throw, warns once, and reads it once it appears', () => {
    // Arrange
    const logger = createMemoryLogger();
    const reader = new EngineLogReader({ file, logger });

    // Act
    reader.poll();
    reader.poll();
    append(entry('error', ['[s1:browser] Error no open browser']));
    reader.poll();

    // Assert
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(reader.recentLines('s1')).toHaveLength(1);
  });

  describe('attempts and untagged server-logger entries (real engine log)', () => {
    let clock: number;
    const now = () => clock;
    const texts = (lines: Array<{ text: string }>) => lines.map((l) => l.text);

    test('When WhatsApp Web is unreachable, then the untagged net::ERR entry goes to the session whose attempt began before it, not to a later one nor one outside the window', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      clock = t('15:00:10.000');
      reader.beginAttempt('stale'); // 124 s before the entry: outside the 120 s window
      append(slice(REAL_LOG, null, ['[s1:browser] Using browser folder']));
      clock = t('15:02:12.900');
      reader.beginAttempt('s1');
      append(slice(REAL_LOG, ['[s1:browser] Using browser folder'], ['15:02:14.474Z']));
      clock = t('15:02:16.500'); // 2.03 s after the entry's own time: later than the allowed skew
      reader.beginAttempt('late');

      // Act
      append(slice(REAL_LOG, ['15:02:14.474Z'], ['15:02:22.023Z']));
      clock = t('15:02:18.000');
      reader.poll();

      // Assert
      const error = reader.lines('s1').filter((l) => l.text.includes('net::ERR_INTERNET_DISCONNECTED'));
      expect(error).toEqual([
        {
          at: t('15:02:14.474'),
          text: 'error: 2026-12-01T15:02:14.474Z net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com - Error: net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com',
        },
      ]);
      expect(classifyBrowserFailure(reader.recentLines('s1'))?.code).toBe('WA_WEB_UNREACHABLE');
      expect(reader.lines('late')).toEqual([]);
      expect(reader.lines('stale')).toEqual([]);
    });

    test('When an untagged error names the profile userDataDir/s1, then it goes to s1 only, even when s2 started at the same time', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      clock = t('15:02:22.100');
      const s1Start = reader.beginAttempt('s1');
      const s2Start = reader.beginAttempt('s2');

      // Act: the server logger's copy alone (without the tagged line before it), stack included
      append(slice(REAL_LOG, ['15:02:22.255Z'], ['browserClose']));
      clock = t('15:02:23.000');
      reader.poll();

      // Assert
      expect(s2Start).toBe(s1Start);
      expect(reader.lines('s1')).toEqual([
        {
          at: t('15:02:22.255'),
          text: expect.stringMatching(
            /^error: 2026-12-01T15:02:22\.255Z The browser is already running for \/srv\/wppconnect-server\/userDataDir\/s1\. /,
          ),
        },
      ]);
      expect(reader.lines('s2')).toEqual([]);
    });

    test('When the userDataDir option is set, then an untagged error naming <userDataDir>/<s> goes to that session only', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now, userDataDir: '/var/lib/wpp/' });
      clock = t('15:10:00.000');
      reader.beginAttempt('s1');
      reader.beginAttempt('s2');

      // Act
      append(
        "\u001b[31merror\u001b[39m: 2026-12-01T15:10:01.000Z EACCES: permission denied, open '/var/lib/wpp/s2/Default/Preferences'\n",
      );
      clock = t('15:10:02.000');
      reader.poll();

      // Assert
      expect(reader.recentLines('s1')).toEqual([]);
      expect(reader.recentLines('s2')).toEqual([
        "error: 2026-12-01T15:10:01.000Z EACCES: permission denied, open '/var/lib/wpp/s2/Default/Preferences'",
      ]);
    });

    test("When a second attempt begins after a Code 21, then lines(s, { since }) returns none of the first attempt's Code 21 lines", () => {
      // Arrange: attempt 1 fails with Code 21 (tagged and untagged forms), read by a poll
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      append(slice(REAL_LOG, null, ['[s2:browser] Using browser folder']));
      clock = t('15:02:33.500');
      const first = reader.beginAttempt('s2');
      append(slice(REAL_LOG, ['[s2:browser] Using browser folder'], ['[s1:client] wapi.js failed', 2]));
      clock = t('15:02:36.000');
      reader.poll();

      // Act: the lock is healed, attempt 2 starts cleanly and cannot reach WhatsApp Web
      clock = t('15:03:00.000');
      const second = reader.beginAttempt('s2');
      append(
        slice(REAL_LOG, ['[s1:browser] Using browser folder', 3], ['[s1:page] Page loaded', 2])
          .replaceAll('s1', 's2')
          .replace('15:02:29.476Z', '15:03:01.476Z'),
      );
      clock = t('15:03:05.000');
      reader.poll();

      // Assert
      const before = texts(reader.lines('s2', { since: first }));
      const after = texts(reader.lines('s2', { since: second }));
      expect(before.filter((l) => l.includes('Code: 21')).length).toBeGreaterThan(0);
      expect(after.filter((l) => /Code: 21|profile appears to be in use|TROUBLESHOOTING/.test(l))).toEqual([]);
      expect(after).toContain(
        'error: 2026-12-01T15:03:01.476Z net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com - Error: net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com',
      );
      expect(classifyBrowserFailure(after)?.code).toBe('WA_WEB_UNREACHABLE');
      expect(reader.lines('s2', { since: second, limit: 1 })).toHaveLength(1);
    });

    test('When the old Code 21 is first read by beginAttempt itself at the same clock reading, then it is still stamped before the attempt', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      clock = t('15:02:33.500');
      reader.beginAttempt('s2');
      append(slice(REAL_LOG, ['[s2:browser] Using browser folder'], ['[s1:client] wapi.js failed', 2]));

      // Act: no poll in between, and the clock has not moved
      const second = reader.beginAttempt('s2');

      // Assert
      expect(reader.recentLines('s2').some((l) => l.includes('Code: 21'))).toBe(true);
      expect(reader.lines('s2', { since: second })).toEqual([]);
      expect(reader.attemptStart('s2')).toBe(second);
    });

    test('When Chromium exits with Code 21, then the entry and its Chromium stderr are kept in both the tagged and the untagged form', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      append(slice(REAL_LOG, null, ['[s2:browser] Using browser folder']));
      clock = t('15:02:33.500');
      reader.beginAttempt('s2');

      // Act
      append(slice(REAL_LOG, ['[s2:browser] Using browser folder'], null));
      clock = t('15:02:40.000');
      reader.poll();

      // Assert
      const lines = reader.lines('s2');
      expect(lines.filter((l) => l.text === CHROMIUM_LOCK_LINE)).toHaveLength(3);
      expect(lines).toContainEqual({
        at: t('15:02:40.000'),
        text: 'error:    [s2:browser] Failed to launch the browser process:  Code: 21',
      });
      expect(lines).toContainEqual({
        at: t('15:02:35.178'),
        text: 'error: 2026-12-01T15:02:35.178Z Failed to launch the browser process:  Code: 21',
      });
      expect(lines).toContainEqual({ at: t('15:02:35.178'), text: CHROMIUM_LOCK_LINE });
      expect(lines).toContainEqual({
        at: t('15:02:35.178'),
        text: ' - Error: Failed to launch the browser process:  Code: 21',
      });
      expect(lines.filter((l) => l.text.startsWith('TROUBLESHOOTING:'))).toHaveLength(3);
    });

    test('When an untagged error repeats the message of a tagged line just before it, then it goes to that session only, not to another one in its window', () => {
      // Arrange: s1's third start (WhatsApp Web unreachable), then s2's Code 21 five seconds later
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      append(slice(REAL_LOG, null, ['[s1:browser] Using browser folder', 3]));
      clock = t('15:02:29.200');
      const s1Start = reader.beginAttempt('s1');
      append(slice(REAL_LOG, ['[s1:browser] Using browser folder', 3], ['[s2:browser] Using browser folder']));
      clock = t('15:02:33.500');
      reader.beginAttempt('s2');

      // Act
      append(slice(REAL_LOG, ['[s2:browser] Using browser folder'], null));
      clock = t('15:02:40.000');
      reader.poll();

      // Assert
      const s1 = texts(reader.lines('s1', { since: s1Start }));
      expect(s1.filter((l) => /Code: 21|profile appears to be in use/.test(l))).toEqual([]);
      expect(classifyBrowserFailure(s1)?.code).toBe('WA_WEB_UNREACHABLE');
      expect(reader.recentLines('s2')).toContain(
        'error: 2026-12-01T15:02:35.178Z Failed to launch the browser process:  Code: 21',
      );
    });

    test('When an untagged error carries a stack, then its frames are dropped and its other continuation lines kept', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      append(slice(REAL_EACCES_LOG, null, ['[e1:browser] Using browser folder']));
      clock = t('15:05:30.000');
      reader.beginAttempt('e1');

      // Act
      append(slice(REAL_EACCES_LOG, ['[e1:browser] Using browser folder'], null));
      clock = t('15:05:35.000');
      reader.poll();

      // Assert
      const lines = reader.recentLines('e1');
      expect(lines.filter((l) => STACK.test(l))).toEqual([]);
      expect(lines.slice(-6)).toEqual([
        'error: 2026-12-01T15:05:33.414Z Failed to launch the browser process:  spawn /opt/chrome-not-executable EACCES',
        'stderr:',
        'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
        ' - Error: Failed to launch the browser process:  spawn /opt/chrome-not-executable EACCES',
        'stderr:',
        'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
      ]);
    });

    test('When the healthz "Unhandled Rejection" entry has no timestamp, then it is stamped with the time it was read and its stack dropped', () => {
      // Arrange
      const reader = new EngineLogReader({ file, logger: createSilentLogger(), now });
      clock = t('15:02:08.000');
      reader.beginAttempt('s1');

      // Act: start-up banner, the unhandled rejection, "Checking for updates"
      append(slice(REAL_LOG, null, ['[s1:browser] Using browser folder']));
      clock = t('15:02:11.500');
      reader.poll();

      // Assert
      expect(reader.lines('s1')).toEqual([
        {
          at: t('15:02:11.500'),
          text: 'error:    Unhandled Rejection: SyntaxError: "[object Object]" is not valid JSON',
        },
      ]);
    });

    test('When an untagged error matches no session, then it goes to the unattributed ring only; untagged info and warn entries are not kept', () => {
      // Arrange
      const reader = new EngineLogReader({
        file,
        logger: createSilentLogger(),
        now,
        maxUnattributedLines: 3,
      });
      append(REAL_LOG);
      clock = t('15:03:00.000');

      // Act
      reader.poll();

      // Assert
      const kept = [...reader.sessions().flatMap((s) => reader.recentLines(s)), ...texts(reader.unattributed())];
      expect(kept.filter((l) => /browserClose|Server is running|Checking for updates|Webhook|\|__/.test(l))).toEqual(
        [],
      );
      expect(reader.recentLines('s1').filter((l) => l.includes('req.client.close'))).toEqual([]);
      expect(reader.unattributed()).toHaveLength(3);
      expect(texts(reader.unattributed(1))).toEqual([
        'error: 2026-12-01T15:02:29.476Z net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com - Error: net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com',
      ]);
    });
  });
});

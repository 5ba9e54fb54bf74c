import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyBrowserFailure } from '../../../src/channels/browser-failure';
import { EngineLogReader } from '../../../src/channels/engine-log-reader';
import { createMemoryLogger, createSilentLogger } from '../../../src/logger';

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
});

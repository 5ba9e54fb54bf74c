import fs from 'node:fs';
import path from 'node:path';
import {
  BROWSER_FAILURE_RULES,
  browserFailureError,
  classifyBrowserFailure,
} from '../../../src/channels/browser-failure';
import { ERROR_CATALOG } from '../../../src/errors';

// The engine log of a foreign-host SingletonLock start, as WPPConnect Server v2.10.4 + puppeteer 24 writes it
// (wppconnect-engine.md §5.2: two spaces after "process:", stderr on the following lines).
const CODE_21_LOG = [
  '2026-11-22T10:00:00.000Z error: [s1:browser] Error no open browser',
  '2026-11-22T10:00:00.001Z error: [s1:browser] Failed to launch the browser process:  Code: 21',
  '',
  'stderr:',
  "The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted. If you are sure no other processes are using this profile, you can unlock the profile and relaunch Chromium.",
  '',
  '',
  'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
];

describe('classifyBrowserFailure: one row of BROWSER_FAILURE_RULES each, with the real strings (wppconnect-engine.md §5)', () => {
  test.each([
    ['chrome-code-21', 'BROWSER_PROFILE_LOCKED', 'Failed to launch the browser process:  Code: 21'],
    [
      'profile-in-use-other-host',
      'BROWSER_PROFILE_LOCKED',
      "The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted.",
    ],
    [
      'browser-already-running',
      'BROWSER_ALREADY_RUNNING',
      'The browser is already running for /usr/src/wpp-server/userDataDir/s1. Use a different `userDataDir` or stop the running browser first.',
    ],
    [
      'singleton-lock-exists',
      'BROWSER_ALREADY_RUNNING',
      'Failed to create /usr/src/wpp-server/userDataDir/s1/SingletonLock: File exists (17)',
    ],
    [
      'process-singleton',
      'BROWSER_ALREADY_RUNNING',
      'Failed to create a ProcessSingleton for your profile directory. This means that running multiple instances would start multiple browser processes rather than opening a new window in the existing process. Aborting now to avoid profile corruption.',
    ],
    [
      'spawn-eacces',
      'BROWSER_LAUNCH_FAILED',
      'Failed to launch the browser process:  spawn /usr/local/bin/not-executable EACCES',
    ],
    ['spawn-enoent', 'BROWSER_LAUNCH_FAILED', 'Failed to launch the browser process:  spawn /usr/bin/chromium ENOENT'],
    [
      'missing-shared-library',
      'BROWSER_LAUNCH_FAILED',
      '/usr/lib/chromium/chromium: error while loading shared libraries: libnss3.so: cannot open shared object file: No such file or directory',
    ],
    [
      'root-without-no-sandbox',
      'BROWSER_LAUNCH_FAILED',
      'Running as root without --no-sandbox is not supported. See https://crbug.com/638180.',
    ],
    ['launch-failed', 'BROWSER_LAUNCH_FAILED', 'Failed to launch the browser process! undefined'],
    ['net-error-wa-web', 'WA_WEB_UNREACHABLE', 'net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com'],
    [
      'cdp-session-closed',
      'ENGINE_PAGE_CLOSED',
      'Protocol error (Runtime.callFunctionOn): Session closed. Most likely the page has been closed.',
    ],
    ['target-closed', 'ENGINE_PAGE_CLOSED', 'Protocol error (Runtime.callFunctionOn): Target closed'],
    ['connection-closed', 'ENGINE_PAGE_CLOSED', 'Connection closed.'],
    ['frame-detached', 'ENGINE_PAGE_CLOSED', 'Navigating frame was detached'],
    ['protocol-error', 'ENGINE_PAGE_CLOSED', 'Error: Protocol error (Runtime.callFunctionOn)'],
  ])('When a text says the %s string, then it is %s', (rule, code, text) => {
    // Act
    const match = classifyBrowserFailure([text]);

    // Assert
    expect(match).toEqual({ code, rule, matched: text, hint: expect.any(String) });
  });

  test('When every rule has a test row above, then the table has no untested row', () => {
    // Arrange: the ids covered by the test.each table (kept in step by hand; this guards additions)
    const tested = [
      'chrome-code-21',
      'profile-in-use-other-host',
      'browser-already-running',
      'singleton-lock-exists',
      'process-singleton',
      'spawn-eacces',
      'spawn-enoent',
      'missing-shared-library',
      'root-without-no-sandbox',
      'launch-failed',
      'net-error-wa-web',
      'cdp-session-closed',
      'target-closed',
      'connection-closed',
      'frame-detached',
      'protocol-error',
    ];

    // Assert
    expect(BROWSER_FAILURE_RULES.map((r) => r.id)).toEqual(tested);
  });
});

describe('classifyBrowserFailure: priority, tolerance and no evidence', () => {
  test('When the log has a Code 21 line with its stderr, then it is BROWSER_PROFILE_LOCKED by the Code 21 rule', () => {
    // Act
    const match = classifyBrowserFailure(CODE_21_LOG);

    // Assert
    expect(match).toMatchObject({
      code: 'BROWSER_PROFILE_LOCKED',
      rule: 'chrome-code-21',
      matched: '2026-11-22T10:00:00.001Z error: [s1:browser] Failed to launch the browser process:  Code: 21',
    });
  });

  test.each([
    ['one space', 'Failed to launch the browser process: Code: 21'],
    ['a tab and no space after Code:', 'Failed to launch the browser process:\tCode:21'],
    ['the older "!" form', 'Failed to launch the browser process!  Code: 21'],
  ])('When the Code 21 line has %s, then it is still BROWSER_PROFILE_LOCKED', (_name, text) => {
    expect(classifyBrowserFailure([text])?.code).toBe('BROWSER_PROFILE_LOCKED');
  });

  test('When the launch failed with another exit code, then it is BROWSER_LAUNCH_FAILED, not a profile lock', () => {
    expect(classifyBrowserFailure(['Failed to launch the browser process:  Code: 210'])).toMatchObject({
      code: 'BROWSER_LAUNCH_FAILED',
      rule: 'launch-failed',
    });
  });

  test('When the old puppeteer form is followed by the same-host Chromium stderr, then the live browser on the profile wins', () => {
    // Arrange: wppconnect ≤ 1.3x (wppconnect#2167)
    const texts = [
      'Failed to launch the browser process! undefined',
      '[0101/000000.000000:ERROR:process_singleton_posix.cc(353)] Failed to create /data/s1/SingletonLock: File exists (17)',
    ];

    // Act + Assert
    expect(classifyBrowserFailure(texts)).toMatchObject({
      code: 'BROWSER_ALREADY_RUNNING',
      rule: 'singleton-lock-exists',
    });
  });

  test('When an earlier text is a page error and a later one is Code 21, then priority (not order) decides', () => {
    expect(
      classifyBrowserFailure([
        'Protocol error (Runtime.callFunctionOn): Target closed',
        'Code: 0',
        CODE_21_LOG.join('\n'),
      ])?.code,
    ).toBe('BROWSER_PROFILE_LOCKED');
  });

  test.each([
    'net::ERR_NAME_NOT_RESOLVED at https://web.whatsapp.com',
    'net::ERR_PROXY_CONNECTION_FAILED at https://web.whatsapp.com/',
  ])('When navigation fails with %s, then it is WA_WEB_UNREACHABLE', (text) => {
    expect(classifyBrowserFailure([text])?.code).toBe('WA_WEB_UNREACHABLE');
  });

  test('When a net error is about another site, then it is not WA_WEB_UNREACHABLE', () => {
    expect(classifyBrowserFailure(['net::ERR_NAME_NOT_RESOLVED at https://example.com'])).toBeNull();
  });

  test.each([
    'TargetCloseError: Protocol error (Runtime.callFunctionOn): Target closed',
    'Attempted to use detached Frame',
  ])('When the text is %s, then it is ENGINE_PAGE_CLOSED', (text) => {
    expect(classifyBrowserFailure([text])?.code).toBe('ENGINE_PAGE_CLOSED');
  });

  test('When the log line carries ANSI colours, then it still matches and `matched` has no escape codes', () => {
    // Arrange
    const text = '\u001b[31merror\u001b[39m: [s1:browser] The browser is already running for /d/s1.';

    // Act
    const match = classifyBrowserFailure([text]);

    // Assert
    expect(match).toMatchObject({
      code: 'BROWSER_ALREADY_RUNNING',
      matched: 'error: [s1:browser] The browser is already running for /d/s1.',
    });
  });

  test.each([
    [[]],
    [['']],
    [['Execution context was destroyed, most likely because of a navigation.']],
    [['{"status":"INITIALIZING","qrcode":null,"version":"2.10.4"}', 'A sessão do WhatsApp não está ativa.']],
  ])(
    'When there is no known failure string (%j), then the result is null (the caller says ENGINE_START_STUCK)',
    (texts) => {
      expect(classifyBrowserFailure(texts)).toBeNull();
    },
  );
});

describe('browserFailureError', () => {
  test("When a match is turned into an error, then it has the catalog's sentence and status with the rule's hint", () => {
    // Arrange
    const match = classifyBrowserFailure(['Failed to launch the browser process:  Code: 21'])!;

    // Act
    const error = browserFailureError(match);

    // Assert
    expect(error).toMatchObject({
      code: 'BROWSER_PROFILE_LOCKED',
      status: 503,
      message: ERROR_CATALOG.BROWSER_PROFILE_LOCKED.message,
      hint: match.hint,
      details: { reason: 'chrome-code-21', evidence: 'Failed to launch the browser process:  Code: 21' },
    });
  });
});

describe.each(['browser-failures.md', 'errors.md'])('docs/%s', (file) => {
  test('When the docs are read, then every rule id and its code appear in the classification table', () => {
    // Arrange
    const doc = fs.readFileSync(path.join(__dirname, '../../../docs', file), 'utf8');

    // Assert
    for (const rule of BROWSER_FAILURE_RULES) {
      const row = doc.split('\n').find((line) => line.startsWith('|') && line.includes(`\`${rule.id}\``));
      expect({ rule: rule.id, row }).toEqual({ rule: rule.id, row: expect.stringContaining(`\`${rule.code}\``) });
    }
  });
});

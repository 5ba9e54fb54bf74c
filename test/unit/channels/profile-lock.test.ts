import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { healProfileLock, inspectProfileLock, ProcSnapshots, readProc } from '../../../src/channels/profile-lock';
import { createMemoryLogger, createSilentLogger } from '../../../src/logger';

const HOST = 'engine-host-1';
const SESSION = 's1';

let workDir: string;
let userDataDir: string;
let profileDir: string;
let procRoot: string;

beforeEach(() => {
  workDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-profile-lock-')));
  userDataDir = path.join(workDir, 'userDataDir');
  profileDir = path.join(userDataDir, SESSION);
  procRoot = path.join(workDir, 'proc');
  fs.mkdirSync(profileDir, { recursive: true });
  fs.mkdirSync(procRoot);
});

afterEach(() => fs.rmSync(workDir, { recursive: true, force: true }));

/** Chromium's three profile-root links, as it leaves them behind (wppconnect-engine.md §5.1). */
function leaveSingletons(lockTarget: string): void {
  fs.symlinkSync(lockTarget, path.join(profileDir, 'SingletonLock'));
  fs.symlinkSync('7591386416413960235', path.join(profileDir, 'SingletonCookie'));
  fs.symlinkSync('/tmp/org.chromium.Chromium.abc123/SingletonSocket', path.join(profileDir, 'SingletonSocket'));
}

function singletonsLeft(): string[] {
  return ['SingletonLock', 'SingletonCookie', 'SingletonSocket'].filter((name) => {
    try {
      fs.lstatSync(path.join(profileDir, name));
      return true;
    } catch {
      return false;
    }
  });
}

/** A fake `/proc/<pid>` with `stat` (pid, comm, state, ppid, …) and a NUL-separated `cmdline`. */
function fakeProcess(pid: number, p: { comm: string; ppid: number; argv: string[]; state?: string }): void {
  const dir = path.join(procRoot, String(pid));
  fs.mkdirSync(dir);
  fs.writeFileSync(
    path.join(dir, 'stat'),
    `${pid} (${p.comm}) ${p.state ?? 'S'} ${p.ppid} ${pid} ${pid} 0 -1 4194560 0\n`,
  );
  fs.writeFileSync(path.join(dir, 'cmdline'), p.argv.map((a) => `${a}\0`).join(''));
}

const chromium = (dir: string, ...extra: string[]) => [
  '/usr/lib/chromium/chromium',
  '--headless=new',
  '--no-sandbox',
  `--user-data-dir=${dir}`,
  ...extra,
];

/** The engine (node, pid 100) and its Chromium (pid 200) with a renderer child, all alive. */
function engineWithBrowser(): void {
  fakeProcess(1, { comm: 'tini', ppid: 0, argv: ['/sbin/tini', '--', 'node', 'dist/server.js'] });
  fakeProcess(100, { comm: 'node', ppid: 1, argv: ['node', 'dist/server.js'] });
  fakeProcess(200, { comm: 'chromium', ppid: 100, argv: chromium(profileDir) });
  fakeProcess(201, { comm: 'chromium', ppid: 200, argv: chromium(profileDir, '--type=renderer') });
}

/** A Chromium (pid 300) left running on the profile after the engine died: adopted by the init. */
function orphanBrowser(): void {
  fakeProcess(1, { comm: 'tini', ppid: 0, argv: ['/sbin/tini', '--', 'node', 'dist/server.js'] });
  fakeProcess(300, { comm: 'chromium', ppid: 1, argv: chromium(profileDir) });
}

const base = () => ({ userDataDir, session: SESSION, hostname: HOST, procRoot });

describe('inspectProfileLock', () => {
  test('When SingletonLock names another host, then the verdict is foreign-host with host and pid parsed', () => {
    // Arrange
    leaveSingletons('otherhost-12345');

    // Act
    const inspection = inspectProfileLock(base());

    // Assert
    expect(inspection).toMatchObject({
      profileDir,
      exists: true,
      lock: { target: 'otherhost-12345', host: 'otherhost', pid: 12345 },
      verdict: 'foreign-host',
      singletonFiles: ['SingletonLock', 'SingletonCookie', 'SingletonSocket'],
      browserPids: [],
      orphanPids: [],
    });
  });

  test('When the hostname has dashes, then the lock is split on the last dash', () => {
    // Arrange
    leaveSingletons(`${HOST}-4242`);

    // Act
    const inspection = inspectProfileLock(base());

    // Assert
    expect(inspection.lock).toEqual({ target: `${HOST}-4242`, host: HOST, pid: 4242 });
    expect(inspection.verdict).toBe('dead-pid');
  });

  test('When the lock pid is a zombie, then it counts as dead', () => {
    // Arrange
    leaveSingletons(`${HOST}-4242`);
    fakeProcess(4242, { comm: 'chromium', ppid: 1, argv: [], state: 'Z' });

    // Act + Assert
    expect(inspectProfileLock(base()).verdict).toBe('dead-pid');
  });

  test('When the engine runs a Chromium on the profile, then it is listed as a live, non-orphaned browser (children excluded)', () => {
    // Arrange
    leaveSingletons(`${HOST}-200`);
    engineWithBrowser();

    // Act
    const inspection = inspectProfileLock(base());

    // Assert
    expect(inspection).toMatchObject({ verdict: 'live-same-host', browserPids: [200], orphanPids: [] });
    expect(inspection.browsers).toEqual([
      { pid: 200, ppid: 100, parentComm: 'node', orphaned: false, why: 'parent pid 100 "node" is the engine' },
    ]);
  });

  test('When the Chromium command line has the profile with a trailing slash, then it is still found', () => {
    // Arrange
    fakeProcess(1, { comm: 'tini', ppid: 0, argv: ['/sbin/tini'] });
    fakeProcess(300, { comm: 'chromium', ppid: 1, argv: chromium(`${profileDir}/`) });
    fakeProcess(301, { comm: 'chromium', ppid: 1, argv: chromium(`${profileDir}-other`) });

    // Act + Assert
    expect(inspectProfileLock(base())).toMatchObject({ browserPids: [300], orphanPids: [300] });
  });

  test('When the parent comm holds spaces and parentheses, then the ppid is still read from field 4', () => {
    // Arrange
    fakeProcess(77, { comm: 'PM2 v5.3.0: God (x) y', ppid: 5, argv: ['PM2 v5.3.0: God Daemon'] });

    // Act + Assert
    expect(readProc(procRoot, 77)).toMatchObject({ pid: 77, ppid: 5, state: 'S', comm: 'PM2 v5.3.0: God (x) y' });
  });

  test('When the engine itself is pid 1 (node as the container init), then its browser is not orphaned', () => {
    // Arrange
    fakeProcess(1, { comm: 'node', ppid: 0, argv: ['node', 'dist/server.js'] });
    fakeProcess(30, { comm: 'chromium', ppid: 1, argv: chromium(profileDir) });

    // Act + Assert
    expect(inspectProfileLock(base())).toMatchObject({ browserPids: [30], orphanPids: [] });
  });

  test('When the browser parent is gone, then the browser is orphaned', () => {
    // Arrange
    fakeProcess(300, { comm: 'chromium', ppid: 999, argv: chromium(profileDir) });

    // Act + Assert
    expect(inspectProfileLock(base()).browsers[0]).toMatchObject({ orphaned: true, parentComm: null });
  });

  test('When the caller says the engine closed the session, then a browser still under the engine counts as orphaned', () => {
    // Arrange
    engineWithBrowser();

    // Act
    const inspection = inspectProfileLock({ ...base(), sessionClosedInEngine: true });

    // Assert
    expect(inspection.orphanPids).toEqual([200]);
  });

  test('When the profile directory does not exist, then nothing exists and the verdict is none', () => {
    expect(inspectProfileLock({ ...base(), session: 'never-started' })).toMatchObject({
      exists: false,
      lock: null,
      verdict: 'none',
      singletonFiles: [],
    });
  });

  test.each(['..', '../etc', 'a/b', ''])('When the session name is %j, then it is refused', (session) => {
    expect(() => inspectProfileLock({ ...base(), session })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });

  test('When SingletonLock is a regular file, then the verdict is invalid', () => {
    // Arrange
    fs.writeFileSync(path.join(profileDir, 'SingletonLock'), 'x');

    // Act + Assert
    expect(inspectProfileLock(base())).toMatchObject({ verdict: 'invalid', lock: { pid: 0 } });
  });
});

describe('ProcSnapshots (one process-table scan shared by close inspections)', () => {
  test('When many profiles are inspected within a second, then the process table is scanned once, and a browser that exited since is not reported', () => {
    let now = 0;
    const snapshots = new ProcSnapshots(1_000, () => now);
    const scans = jest.spyOn(fs, 'readdirSync');
    engineWithBrowser();
    const inspect = (session: string) =>
      inspectProfileLock({ userDataDir, session, hostname: HOST, procRoot, snapshots });
    fs.mkdirSync(path.join(userDataDir, 's2'));

    expect(inspect(SESSION).browserPids).toEqual([200]);
    expect(inspect('s2').browserPids).toEqual([]);
    const scanned = scans.mock.calls.filter(([dir]) => dir === procRoot).length;
    // The browser exits: the shared snapshot still lists it, the inspection re-reads it and leaves it out.
    fs.rmSync(path.join(procRoot, '200'), { recursive: true });
    expect(inspect(SESSION).browserPids).toEqual([]);
    expect(scans.mock.calls.filter(([dir]) => dir === procRoot).length).toBe(scanned);
    expect(scanned).toBe(1);

    // A second later the next inspection scans again and sees a browser started since.
    fakeProcess(300, { comm: 'chromium', ppid: 100, argv: chromium(profileDir) });
    now += 1_000;
    expect(inspect(SESSION).browserPids).toEqual([300]);
    scans.mockRestore();
  });
});

describe('healProfileLock', () => {
  test('When a real foreign-host SingletonLock symlink is on disk, then the three Singleton links are removed and each action is logged', () => {
    // Arrange
    leaveSingletons('otherhost-12345');
    const logger = createMemoryLogger();
    const kill = jest.fn();

    // Act
    const result = healProfileLock({ ...base(), killOrphans: true, logger, kill });

    // Assert
    expect(result).toMatchObject({ healed: true, inspection: { verdict: 'foreign-host' } });
    expect(result.actions).toEqual([
      'removed SingletonLock (-> otherhost-12345)',
      'removed SingletonCookie (-> 7591386416413960235)',
      'removed SingletonSocket (-> /tmp/org.chromium.Chromium.abc123/SingletonSocket)',
    ]);
    expect(singletonsLeft()).toEqual([]);
    expect(kill).not.toHaveBeenCalled();
    const actionLogs = logger.lines.filter((l) => l.message === 'profile lock heal action');
    expect(actionLogs).toHaveLength(3);
    for (const line of actionLogs) {
      expect(line.meta).toMatchObject({
        session: SESSION,
        profileDir,
        reason: expect.stringContaining('another host'),
      });
    }
  });

  test('When the foreign-host lock is checked with the real os.hostname and /proc, then it is healed too', () => {
    // Arrange: no injected hostname or procRoot, as in production
    leaveSingletons('otherhost-that-is-not-this-machine-12345');

    // Act
    const result = healProfileLock({ userDataDir, session: SESSION, killOrphans: false, logger: createSilentLogger() });

    // Assert
    expect(result.healed).toBe(true);
    expect(singletonsLeft()).toEqual([]);
  });

  test('When the lock names this host and a dead pid, then it is healed', () => {
    // Arrange
    leaveSingletons(`${HOST}-4242`);

    // Act
    const result = healProfileLock({ ...base(), killOrphans: false, logger: createSilentLogger() });

    // Assert
    expect(result).toMatchObject({ healed: true, inspection: { verdict: 'dead-pid' } });
    expect(singletonsLeft()).toEqual([]);
  });

  test('When only SingletonCookie and SingletonSocket are left over, then they are removed', () => {
    // Arrange
    fs.symlinkSync('123', path.join(profileDir, 'SingletonCookie'));
    fs.symlinkSync('/tmp/org.chromium.Chromium.x/SingletonSocket', path.join(profileDir, 'SingletonSocket'));

    // Act
    const result = healProfileLock({ ...base(), killOrphans: false, logger: createSilentLogger() });

    // Assert
    expect(result.actions).toHaveLength(2);
    expect(singletonsLeft()).toEqual([]);
  });

  test('When SingletonSocket points at a real socket dir, then only the link goes and its target stays', () => {
    // Arrange
    const socketDir = path.join(workDir, 'org.chromium.Chromium.real');
    fs.mkdirSync(socketDir);
    fs.writeFileSync(path.join(socketDir, 'SingletonSocket'), '');
    fs.symlinkSync('otherhost-1', path.join(profileDir, 'SingletonLock'));
    fs.symlinkSync(path.join(socketDir, 'SingletonSocket'), path.join(profileDir, 'SingletonSocket'));

    // Act
    healProfileLock({ ...base(), killOrphans: false, logger: createSilentLogger() });

    // Assert
    expect(singletonsLeft()).toEqual([]);
    expect(fs.existsSync(path.join(socketDir, 'SingletonSocket'))).toBe(true);
  });

  test('When a live same-host lock belongs to the engine’s Chromium, then nothing is touched and the reason says why', () => {
    // Arrange
    leaveSingletons(`${HOST}-200`);
    engineWithBrowser();
    const kill = jest.fn();
    const logger = createMemoryLogger();

    // Act
    const result = healProfileLock({ ...base(), killOrphans: true, logger, kill });

    // Assert
    expect(result).toMatchObject({ healed: false, actions: [] });
    expect(result.reason).toContain('pid 200 (parent pid 100 "node" is the engine)');
    expect(kill).not.toHaveBeenCalled();
    expect(singletonsLeft()).toHaveLength(3);
    expect(logger.lines).toEqual([
      expect.objectContaining({
        message: 'profile lock left alone',
        meta: expect.objectContaining({ session: SESSION }),
      }),
    ]);
  });

  test('When the lock looks foreign but the engine’s Chromium runs on the profile, then nothing is touched', () => {
    // Arrange: the gateway's hostname differs from the engine's (a misconfiguration), the browser is alive
    leaveSingletons('engine-container-200');
    engineWithBrowser();

    // Act
    const result = healProfileLock({ ...base(), killOrphans: true, logger: createSilentLogger(), kill: jest.fn() });

    // Assert
    expect(result).toMatchObject({ healed: false, inspection: { verdict: 'foreign-host' } });
    expect(singletonsLeft()).toHaveLength(3);
  });

  test('When an orphaned Chromium holds the profile and killOrphans is true, then it gets SIGTERM and the lock is left for it', () => {
    // Arrange
    leaveSingletons(`${HOST}-300`);
    orphanBrowser();
    const kill = jest.fn();
    const logger = createMemoryLogger();

    // Act
    const result = healProfileLock({ ...base(), killOrphans: true, logger, kill });

    // Assert
    expect(kill).toHaveBeenCalledTimes(1);
    expect(kill).toHaveBeenCalledWith(300, 'SIGTERM');
    expect(result).toMatchObject({ healed: true, inspection: { orphanPids: [300] } });
    expect(result.actions).toEqual([
      'sent SIGTERM to orphaned browser pid 300 (parent pid 1 "tini" is not the engine)',
    ]);
    expect(singletonsLeft()).toHaveLength(3);
    expect(logger.lines.find((l) => l.message === 'profile lock heal action')?.meta).toMatchObject({
      session: SESSION,
      action: result.actions[0],
    });
  });

  test('When an orphaned Chromium holds the profile and killOrphans is false, then kill is not called and a warning says why', () => {
    // Arrange
    leaveSingletons(`${HOST}-300`);
    orphanBrowser();
    const kill = jest.fn();
    const logger = createMemoryLogger();

    // Act
    const result = healProfileLock({ ...base(), killOrphans: false, logger, kill });

    // Assert
    expect(kill).not.toHaveBeenCalled();
    expect(result).toMatchObject({ healed: false, actions: [] });
    expect(result.reason).toContain('KILL_ORPHAN_BROWSERS is not true');
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'warn', message: 'profile lock left alone' })]);
    expect(singletonsLeft()).toHaveLength(3);
  });

  test('When the orphan exits before the kill (ESRCH), then heal reports it gone instead of failing', () => {
    // Arrange
    orphanBrowser();
    const kill = jest.fn(() => {
      throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    });

    // Act
    const result = healProfileLock({ ...base(), killOrphans: true, logger: createSilentLogger(), kill });

    // Assert
    expect(result.actions).toEqual(['orphaned browser pid 300 already exited']);
  });

  test('When the engine closed the session but its Chromium still runs, then killOrphans ends that leftover', () => {
    // Arrange
    leaveSingletons(`${HOST}-200`);
    engineWithBrowser();
    const kill = jest.fn();

    // Act
    healProfileLock({ ...base(), sessionClosedInEngine: true, killOrphans: true, logger: createSilentLogger(), kill });

    // Assert
    expect(kill).toHaveBeenCalledWith(200, 'SIGTERM');
    expect(kill).not.toHaveBeenCalledWith(201, expect.anything());
  });

  test('When the lock pid is alive on this host but no browser on the profile is visible, then nothing is touched', () => {
    // Arrange
    leaveSingletons(`${HOST}-555`);
    fakeProcess(555, { comm: 'bash', ppid: 1, argv: ['bash'] });

    // Act
    const result = healProfileLock({ ...base(), killOrphans: true, logger: createSilentLogger() });

    // Assert
    expect(result).toMatchObject({ healed: false, inspection: { verdict: 'live-same-host' } });
    expect(singletonsLeft()).toHaveLength(3);
  });

  test('When there is no profile directory or no lock, then heal does nothing', () => {
    // Act
    const missing = healProfileLock({
      ...base(),
      session: 'never-started',
      killOrphans: true,
      logger: createSilentLogger(),
    });
    const clean = healProfileLock({ ...base(), killOrphans: true, logger: createSilentLogger() });

    // Assert
    expect(missing).toMatchObject({ healed: false, actions: [], inspection: { exists: false } });
    expect(clean).toMatchObject({ healed: false, actions: [], inspection: { verdict: 'none' } });
  });
});

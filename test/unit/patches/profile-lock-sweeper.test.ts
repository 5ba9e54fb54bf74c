import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * patches/profile-lock-sweeper/sweep-profile-locks.sh, run for real (as `sh`, the way a docker entrypoint or a
 * pm2/systemd pre-start step runs it) against temp userDataDirs holding real Chromium-style symlinks.
 */

const SCRIPT = path.resolve(__dirname, '../../../patches/profile-lock-sweeper/sweep-profile-locks.sh');
const THIS_HOST = 'engine-host-1';
const SINGLETONS = ['SingletonLock', 'SingletonCookie', 'SingletonSocket'];

let userDataDir: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  userDataDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-sweeper-')));
});

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  fs.rmSync(userDataDir, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

function sweep(args: string[], env: Record<string, string> = {}, shell: string[] = ['sh']): Run {
  const res = spawnSync(shell[0], [...shell.slice(1), SCRIPT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SWEEP_HOSTNAME: THIS_HOST, ...env },
    timeout: 30_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, lines: res.stdout.split('\n').filter(Boolean) };
}

/** A session profile under userDataDir with Chromium's three links, as a killed browser leaves them. */
function profileWithLock(session: string, lockTarget: string): string {
  const profile = path.join(userDataDir, session);
  fs.mkdirSync(profile, { recursive: true });
  fs.symlinkSync(lockTarget, path.join(profile, 'SingletonLock'));
  fs.symlinkSync('7591386416413960235', path.join(profile, 'SingletonCookie'));
  fs.symlinkSync('/tmp/org.chromium.Chromium.abc123/SingletonSocket', path.join(profile, 'SingletonSocket'));
  return profile;
}

function singletonsLeft(profile: string): string[] {
  return SINGLETONS.filter((name) => {
    try {
      fs.lstatSync(path.join(profile, name));
      return true;
    } catch {
      return false;
    }
  });
}

/** A pid that surely names no process: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  const pid = child.pid!;
  await new Promise((resolve) => child.once('exit', resolve));
  return pid;
}

/** Keeps a process alive until afterEach, and returns it once it has started. */
async function running(command: string, args: string[]): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  await new Promise((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  return child;
}

describe('sweep-profile-locks.sh: stale locks', () => {
  test('When the lock names another host, then the sweeper removes the three Singleton files', () => {
    const profile = profileWithLock('s1', 'otherhost-12345');

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual([]);
    expect(run.stdout).toContain(`${profile}: stale SingletonLock -> otherhost-12345: names another host (otherhost;`);
    for (const name of SINGLETONS) expect(run.stdout).toContain(`sweep-profile-locks: removed ${profile}/${name}`);
  });

  test('When the lock names this host and a pid that is not running, then the sweeper removes the Singleton files', async () => {
    const pid = await deadPid();
    const profile = profileWithLock('s1', `${THIS_HOST}-${pid}`);

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual([]);
    expect(run.stdout).toContain(`names pid ${pid} on this host, which is not running`);
  });

  test('When the hostname holds dashes, then the lock is split on the last dash', () => {
    const host = 'wpp-engine-7f9c';
    const profile = profileWithLock('s1', `${host}-${process.pid}`);

    const run = sweep([userDataDir], { SWEEP_HOSTNAME: host });

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual(SINGLETONS);
    expect(run.stdout).toContain(`held by live pid ${process.pid} on this host`);
  });

  test('When the lock pid is a zombie on this host, then it counts as dead and the lock is removed', async () => {
    // A forked child that exits at once stays a zombie: perl (Debian's essential perl-base) never reaps it unless
    // asked. (A shell reaped it under load: `sleep 0 &` ended before the shell exec'd into a non-reaping sleep.)
    const parent = await running('perl', ['-e', '$| = 1; my $p = fork; exit 0 unless $p; print "$p\\n"; sleep 30']);
    const zombie = Number(
      await new Promise<string>((resolve) => parent.stdout!.once('data', (d) => resolve(String(d)))),
    );
    const state = () => fs.readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]?.[0];
    const until = Date.now() + 5_000;
    while (state() !== 'Z' && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(state()).toBe('Z');
    const profile = profileWithLock('s1', `${THIS_HOST}-${zombie}`);

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual([]);
  });

  test('When a stale lock sits in userDataDir itself, then it is removed there too', () => {
    for (const [name, target] of [
      ['SingletonLock', 'otherhost-1'],
      ['SingletonCookie', '1'],
      ['SingletonSocket', '/tmp/x/SingletonSocket'],
    ]) {
      fs.symlinkSync(target, path.join(userDataDir, name));
    }

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(userDataDir)).toEqual([]);
  });
});

describe('sweep-profile-locks.sh: what it never touches', () => {
  test('When the lock names this host and a live pid, then everything is kept and the lock is reported as held', () => {
    const profile = profileWithLock('s1', `${THIS_HOST}-${process.pid}`);

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual(SINGLETONS);
    expect(run.lines).toContain(
      `sweep-profile-locks: ${profile}: held by live pid ${process.pid} on this host: SingletonLock -> ${THIS_HOST}-${process.pid} left alone`,
    );
    expect(run.stdout).not.toContain('removed');
  });

  test('When a running process has --user-data-dir=<profile>, then even a foreign-host lock is kept', async () => {
    const profile = profileWithLock('s1', 'otherhost-12345');
    await running(process.execPath, ['-e', 'setInterval(() => {}, 1000)', '--', `--user-data-dir=${profile}/`]);

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual(SINGLETONS);
    expect(run.stdout).toContain(`${profile}: held: a running process uses it (--user-data-dir)`);
  });

  test('When the profile holds other files, then only the Singleton links go and the rest is untouched', () => {
    const profile = profileWithLock('s1', 'otherhost-12345');
    fs.mkdirSync(path.join(profile, 'Default', 'IndexedDB'), { recursive: true });
    fs.writeFileSync(path.join(profile, 'Default', 'IndexedDB', 'login.ldb'), 'whatsapp login');
    fs.writeFileSync(path.join(profile, 'Local State'), '{}');
    fs.writeFileSync(path.join(profile, 'lockfile'), '');
    fs.writeFileSync(path.join(userDataDir, 'SingletonLock.bak'), 'not chromium');
    const socketDir = fs.mkdtempSync(path.join(userDataDir, 'socket-'));
    fs.writeFileSync(path.join(socketDir, 'SingletonSocket'), 'socket target');
    fs.rmSync(path.join(profile, 'SingletonSocket'));
    fs.symlinkSync(path.join(socketDir, 'SingletonSocket'), path.join(profile, 'SingletonSocket'));

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual([]);
    expect(fs.readFileSync(path.join(profile, 'Default', 'IndexedDB', 'login.ldb'), 'utf8')).toBe('whatsapp login');
    expect(fs.existsSync(path.join(profile, 'Local State'))).toBe(true);
    expect(fs.existsSync(path.join(profile, 'lockfile'))).toBe(true);
    expect(fs.existsSync(path.join(userDataDir, 'SingletonLock.bak'))).toBe(true);
    // The link went, never what it pointed at.
    expect(fs.readFileSync(path.join(socketDir, 'SingletonSocket'), 'utf8')).toBe('socket target');
  });

  test('When a profile entry is a symlink to a directory outside the tree, then it is not followed', () => {
    const outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-sweeper-outside-')));
    try {
      fs.symlinkSync('otherhost-12345', path.join(outside, 'SingletonLock'));
      fs.symlinkSync(outside, path.join(userDataDir, 'linked'));

      const run = sweep([userDataDir]);

      expect(run.status).toBe(0);
      expect(singletonsLeft(outside)).toEqual(['SingletonLock']);
      expect(run.stdout).not.toContain(outside);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  test('When SingletonLock is not a <host>-<pid> link, then it is reported and left alone', () => {
    const profile = profileWithLock('s1', 'garbage');

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual(SINGLETONS);
    expect(run.stdout).toContain(`${profile}: SingletonLock -> garbage is not a <host>-<pid> link: left alone`);
  });

  test('When run with --dry-run, then nothing is removed but every removal is reported', () => {
    const profile = profileWithLock('s1', 'otherhost-12345');

    const run = sweep([userDataDir, '--dry-run']);

    expect(run.status).toBe(0);
    expect(singletonsLeft(profile)).toEqual(SINGLETONS);
    for (const name of SINGLETONS) {
      expect(run.stdout).toContain(`sweep-profile-locks: would remove ${profile}/${name}`);
    }
    expect(run.stdout).not.toMatch(/^sweep-profile-locks: removed/m);
    expect(run.lines.at(-1)).toContain('dry run: nothing removed');
  });
});

describe('sweep-profile-locks.sh: names and usage', () => {
  test('When profile names hold spaces (and a userDataDir with a trailing slash), then they are swept like any other', async () => {
    const foreign = profileWithLock('Pixel12 Digital', 'otherhost-12345');
    const dead = profileWithLock('Imob Sites  2', `${THIS_HOST}-${await deadPid()}`);
    const held = profileWithLock('live one', `${THIS_HOST}-${process.pid}`);

    const run = sweep([`${userDataDir}/`]);

    expect(run.status).toBe(0);
    expect(singletonsLeft(foreign)).toEqual([]);
    expect(singletonsLeft(dead)).toEqual([]);
    expect(singletonsLeft(held)).toEqual(SINGLETONS);
    expect(run.lines).toContain(`sweep-profile-locks: removed ${foreign}/SingletonLock -> otherhost-12345`);
    expect(run.lines.at(-1)).toBe(
      `sweep-profile-locks: done: 4 director(ies) checked in ${userDataDir}, 2 stale lock(s), 1 held`,
    );
  });

  test('When nothing is locked, then it exits 0 and prints only the summary', () => {
    fs.mkdirSync(path.join(userDataDir, 's1'));

    const run = sweep([userDataDir]);

    expect(run.status).toBe(0);
    expect(run.lines).toEqual([
      `sweep-profile-locks: done: 2 director(ies) checked in ${userDataDir}, 0 stale lock(s), 0 held`,
    ]);
  });

  test('When the userDataDir does not exist, then it exits 2 and says so', () => {
    const run = sweep([path.join(userDataDir, 'missing')]);

    expect(run.status).toBe(2);
    expect(run.stderr).toContain('not a directory');
  });

  test.each([
    ['no argument', []],
    ['two directories', ['a', 'b']],
    ['an unknown option', ['--force']],
  ])('When called with %s, then it exits 2 with the usage line', (_what, args) => {
    const run = sweep(args as string[]);

    expect(run.status).toBe(2);
    expect(run.stderr).toContain('usage:');
  });

  const busybox = ['/usr/bin/busybox', '/bin/busybox'].find((file) => fs.existsSync(file));
  (busybox ? test : test.skip)(
    "When run by busybox sh (as in the engine's Alpine image), then it sweeps the same",
    () => {
      const foreign = profileWithLock('s 1', 'otherhost-12345');
      const held = profileWithLock('s2', `${THIS_HOST}-${process.pid}`);

      const run = sweep([userDataDir], {}, [busybox!, 'sh']);

      expect(run.status).toBe(0);
      expect(singletonsLeft(foreign)).toEqual([]);
      expect(singletonsLeft(held)).toEqual(SINGLETONS);
    },
  );

  test('When the script file is checked, then it is executable and runs with its own shebang', () => {
    fs.accessSync(SCRIPT, fs.constants.X_OK);
    const res = spawnSync(SCRIPT, [userDataDir], {
      encoding: 'utf8',
      env: { ...process.env, SWEEP_HOSTNAME: THIS_HOST },
    });
    expect(res.status).toBe(0);
  });
});

const CHROMIUM = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (file) => file && fs.existsSync(file),
);

(CHROMIUM ? describe : describe.skip)('sweep-profile-locks.sh with a real Chromium', () => {
  const launch = (profile: string) =>
    spawnSync(
      CHROMIUM!,
      ['--headless=new', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, '--dump-dom', 'about:blank'],
      { encoding: 'utf8', timeout: 45_000 },
    );

  test('When Chromium exits with Code 21 on a foreign-host lock, then after the sweep it starts', () => {
    const profile = profileWithLock('s1', 'otherhost-12345');

    const before = launch(profile);
    expect(before.status).toBe(21);
    expect(before.stderr).toContain('on another computer (otherhost)');

    // The real hostname here: Chromium compares the lock with it.
    expect(sweep([userDataDir], { SWEEP_HOSTNAME: os.hostname() }).status).toBe(0);

    const after = launch(profile);
    expect(after.status).toBe(0);
  }, 120_000);
});

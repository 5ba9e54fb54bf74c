import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { releaseProfile } from '../../../src/channels/profile-lock';
import { createMemoryLogger } from '../../../src/logger';

/**
 * releaseProfile against real processes and the real /proc: the "browser" is a node child whose command line holds
 * `--user-data-dir=<profile>`, parented by this (node) process as Chromium is by the engine (wppconnect-engine.md §7.3).
 */

let dir: string;
let userDataDir: string;
let profile: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'gw-release-')));
  userDataDir = path.join(dir, 'userDataDir');
  profile = path.join(userDataDir, 'ch1');
  fs.mkdirSync(profile, { recursive: true });
});

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

async function browserOn(profileDir: string, options: { ignoreTerm?: boolean } = {}): Promise<ChildProcess> {
  const script = options.ignoreTerm
    ? "process.on('SIGTERM', () => {}); setInterval(() => {}, 1 << 30); console.log('up')"
    : "setInterval(() => {}, 1 << 30); console.log('up')";
  const child = spawn(process.execPath, ['-e', script, '--', `--user-data-dir=${profileDir}`, '--headless=new'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  fs.symlinkSync(`${os.hostname()}-${child.pid}`, path.join(profileDir, 'SingletonLock'));
  fs.symlinkSync('1234567890', path.join(profileDir, 'SingletonCookie'));
  return child;
}

const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
};

const base = () => ({ userDataDir, session: 'ch1', logger: createMemoryLogger(), graceMs: 1_500 });

describe('releaseProfile (after the engine closed the session)', () => {
  test('When the browser of a failed close still runs on the profile, then it is ended, its stale lock removed, and the profile reported free', async () => {
    const browser = await browserOn(profile);

    const result = await releaseProfile({ ...base(), endBrowsers: true, removeStaleLocks: true });

    expect(result.free).toBe(true);
    expect(result.remainingPids).toEqual([]);
    expect(result.actions).toContain(`sent SIGTERM to browser pid ${browser.pid} on the profile`);
    expect(alive(browser.pid!)).toBe(false);
    expect(fs.readdirSync(profile).filter((f) => f.startsWith('Singleton'))).toEqual([]);
  });

  test('When the browser ignores SIGTERM, then it gets SIGKILL after the grace period and the profile is free', async () => {
    const browser = await browserOn(profile, { ignoreTerm: true });

    const result = await releaseProfile({ ...base(), graceMs: 300, endBrowsers: true, removeStaleLocks: true });

    expect(result.free).toBe(true);
    expect(result.actions).toEqual(
      expect.arrayContaining([
        `sent SIGTERM to browser pid ${browser.pid} on the profile`,
        `sent SIGKILL to browser pid ${browser.pid} on the profile`,
      ]),
    );
    expect(alive(browser.pid!)).toBe(false);
  });

  test('When ending browsers is turned off, then the browser keeps running and the profile is reported held, saying why', async () => {
    const browser = await browserOn(profile);

    const result = await releaseProfile({ ...base(), endBrowsers: false, removeStaleLocks: true });

    expect(result.free).toBe(false);
    expect(result.remainingPids).toEqual([browser.pid]);
    expect(result.reason).toContain('KILL_ORPHAN_BROWSERS=false');
    expect(alive(browser.pid!)).toBe(true);
    expect(fs.readdirSync(profile)).toEqual(expect.arrayContaining(['SingletonLock', 'SingletonCookie']));
  });

  test('When only a foreign-host lock is left, then it is removed when healing is on and reported when it is off', async () => {
    fs.symlinkSync('otherhost-12345', path.join(profile, 'SingletonLock'));

    const kept = await releaseProfile({ ...base(), endBrowsers: true, removeStaleLocks: false });
    expect(kept.free).toBe(false);
    expect(kept.reason).toContain('Code 21');

    const healed = await releaseProfile({ ...base(), endBrowsers: true, removeStaleLocks: true });
    expect(healed.free).toBe(true);
    expect(healed.actions).toEqual(['removed SingletonLock (-> otherhost-12345)']);
  });

  test('When a browser runs on another channel’s profile, then it is not touched', async () => {
    const other = path.join(userDataDir, 'ch10');
    fs.mkdirSync(other);
    const neighbour = await browserOn(other);

    const result = await releaseProfile({ ...base(), endBrowsers: true, removeStaleLocks: true });

    expect(result.free).toBe(true);
    expect(result.actions).toEqual([]);
    expect(alive(neighbour.pid!)).toBe(true);
  });
});

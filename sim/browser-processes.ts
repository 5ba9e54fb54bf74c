import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Real "browser" processes for the simulator's process mode (`browserProcesses: true`). Each is a tiny node child
 * whose command line carries `--user-data-dir=<profile>` like Chromium's, so a gateway that looks for a leftover
 * browser in /proc, kills it by pid, or heals the profile's `Singleton*` links sees what it would see on the real
 * engine (wppconnect-engine.md §5.1, §7.3). Linux only (/proc).
 */

/** Keeps running until SIGTERM (exit 0), like a Chromium puppeteer would close. */
const BROWSER_SCRIPT = "process.on('SIGTERM',()=>process.exit(0));setInterval(()=>{},1<<30);";

const SINGLETONS = ['SingletonLock', 'SingletonCookie', 'SingletonSocket'] as const;

/** Every child spawned by any simulator in this process, SIGKILLed if the process exits with them still alive. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Starts a browser stand-in on `profile`. The child does not keep the event loop alive. */
export function spawnBrowser(profile: string): ChildProcess {
  installExitHook();
  const child = spawn(process.execPath, ['-e', BROWSER_SCRIPT, '--', `--user-data-dir=${profile}`, '--headless=new'], {
    stdio: 'ignore',
  });
  liveChildren.add(child);
  const forget = () => liveChildren.delete(child);
  child.once('exit', forget);
  child.once('error', forget);
  child.unref();
  return child;
}

/** `kill(pid, 0)`: the pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Live processes whose command line holds `--user-data-dir=<profile>`, any parent, Chromium's `--type=` children
 * (renderer, gpu, zygote…) left out. Zombies have an empty cmdline and so never match.
 */
export function profileHolders(profile: string): number[] {
  const wanted = new Set([`--user-data-dir=${profile}`, `--user-data-dir=${profile}/`]);
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.some((a) => wanted.has(a)) && !argv.some((a) => a.startsWith('--type='))) pids.push(Number(entry));
  }
  return pids;
}

export type LockState =
  | { kind: 'none' }
  /** Not a `<host>-<pid>` symlink: Chromium treats it as stale. */
  | { kind: 'invalid' }
  | { kind: 'lock'; host: string; pid: number };

export function readLock(profile: string): LockState {
  let target: string;
  try {
    target = fs.readlinkSync(path.join(profile, 'SingletonLock'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // A dangling symlink is still a symlink; readlink only fails with ENOENT when there is nothing at all.
      return { kind: 'none' };
    }
    return { kind: 'invalid' };
  }
  const match = /^(.+)-(\d+)$/.exec(target);
  return match ? { kind: 'lock', host: match[1], pid: Number(match[2]) } : { kind: 'invalid' };
}

export type ProfileCheck =
  | { kind: 'ok' }
  /** Chromium exits 21: the lock names another computer. */
  | { kind: 'foreign-lock'; host: string; pid: number }
  /** puppeteer: "The browser is already running for <profile>". */
  | { kind: 'in-use'; pid: number };

/**
 * What Chromium + puppeteer 24 make of a profile before starting on it: a live browser on it (found in /proc, or
 * named by a same-host lock) refuses; a lock from another host is Code 21; a same-host lock whose pid is dead (or a
 * lock that is not `<host>-<pid>`) is stale, and Chromium removes it and starts.
 */
export function checkProfile(profile: string, hostname: string): ProfileCheck {
  const holders = profileHolders(profile);
  if (holders.length > 0) return { kind: 'in-use', pid: holders[0] };
  const lock = readLock(profile);
  if (lock.kind === 'lock' && lock.host !== hostname) return { kind: 'foreign-lock', host: lock.host, pid: lock.pid };
  if (lock.kind === 'lock' && pidAlive(lock.pid)) return { kind: 'in-use', pid: lock.pid };
  if (lock.kind !== 'none') clearSingletons(profile);
  return { kind: 'ok' };
}

export function clearSingletons(profile: string): void {
  for (const name of SINGLETONS) fs.rmSync(path.join(profile, name), { force: true });
}

/** The links a starting Chromium writes in the profile root; it leaves them behind when it is killed. */
export function writeSingletons(profile: string, hostname: string, pid: number): void {
  clearSingletons(profile);
  const cookie = BigInt(`0x${crypto.randomBytes(8).toString('hex')}`).toString();
  const dir = `/tmp/org.chromium.Chromium.${crypto.randomBytes(6).toString('base64url').slice(0, 6)}`;
  fs.symlinkSync(`${hostname}-${pid}`, path.join(profile, 'SingletonLock'));
  fs.symlinkSync(cookie, path.join(profile, 'SingletonCookie'));
  fs.symlinkSync(`${dir}/SingletonSocket`, path.join(profile, 'SingletonSocket'));
}

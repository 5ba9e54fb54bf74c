import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';

/**
 * Diagnosis and healing of Chromium profile locks, the cause of Chrome exit Code 21 (wppconnect-engine.md §5).
 *
 * Chromium keeps three entries in the profile root (`<userDataDir>/<session>/`): `SingletonLock`, a symlink whose
 * target is `<hostname>-<pid>` of the browser that owns the profile, plus `SingletonCookie` and `SingletonSocket`
 * (symlinks too; the socket one points into a temp dir). Puppeteer SIGKILLs Chromium when the engine stops, so
 * they are always left behind: harmless on the same host (Chromium clears a lock whose pid is dead) and fatal under
 * a new hostname (a recreated container: wppconnect-server#1844, wppconnect#2259). A Chromium still running on the
 * profile (orphaned by a crash, a failed start or a SIGKILL of the engine) makes the next launch fail too
 * ("The browser is already running for …").
 *
 * Both functions read the engine host's process table through `procRoot`, so the gateway must share the engine's
 * hostname and pid namespace (same host, or same container/pod); pass the engine's `hostname` when it differs.
 */

export const SINGLETON_FILES = ['SingletonLock', 'SingletonCookie', 'SingletonSocket'] as const;

/**
 * - `none`: no SingletonLock.
 * - `foreign-host`: the lock names another hostname; Chromium refuses it (Code 21) and never clears it itself.
 * - `dead-pid`: the lock names this host and a pid that is not running; stale (Chromium would clear it too).
 * - `live-same-host`: the lock names this host and a running pid; the profile is (probably) in use.
 * - `invalid`: SingletonLock exists but is not a `<hostname>-<pid>` symlink; stale, Chromium would unlink it.
 */
export type ProfileLockVerdict = 'none' | 'foreign-host' | 'dead-pid' | 'live-same-host' | 'invalid';

export interface ProfileLockOwner {
  /** The raw symlink target, e.g. `otherhost-12345`. */
  target: string;
  /** Everything before the last dash (hostnames may contain dashes). */
  host: string;
  /** The number after the last dash; 0 when the target is not `<hostname>-<pid>`. */
  pid: number;
}

/** One process from `<procRoot>/<pid>/{stat,cmdline}`. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Single-letter state from stat (R, S, Z, …). */
  state: string;
  /** The command name from stat (inside the parentheses; may contain spaces). */
  comm: string;
  argv: string[];
}

export interface ProfileBrowser {
  pid: number;
  ppid: number;
  /** `comm` of the parent, or null when the parent is gone. */
  parentComm: string | null;
  orphaned: boolean;
  /** Why it counts as orphaned or as owned by the engine. */
  why: string;
}

export interface ProfileLockInspection {
  profileDir: string;
  exists: boolean;
  lock: ProfileLockOwner | null;
  verdict: ProfileLockVerdict;
  /** The Singleton* entries present in the profile root. */
  singletonFiles: string[];
  /**
   * Live Chromium *browser* processes (not their `--type=…` children) whose command line holds
   * `--user-data-dir=<profileDir>` (with or without a trailing slash, or relative to the process's cwd).
   */
  browserPids: number[];
  /** Those of `browserPids` that are orphaned (see `ProfileBrowser.why` and docs/browser-failures.md). */
  orphanPids: number[];
  browsers: ProfileBrowser[];
}

export interface ProfileLockOptions {
  /** The engine's CUSTOM_USER_DATA_DIR as seen from the gateway (WPPCONNECT_USER_DATA_DIR); best absolute. */
  userDataDir: string;
  /** The engine session name (exact case). */
  session: string;
  /** The engine host's name, as Chromium writes it into SingletonLock (default: this host's). */
  hostname?: string;
  /** Where the process table is mounted (default `/proc`); tests pass a fake one. */
  procRoot?: string;
  /**
   * The caller asserts the engine no longer runs this session (close-session was just answered). A browser still
   * parented by the engine is then a leftover (wppconnect-engine.md §3.5: close-session on a session that never
   * logged in leaves its browser running) and counts as orphaned.
   */
  sessionClosedInEngine?: boolean;
  /**
   * Whether a process is the engine (a parent that owns its browsers). Default: a Node process (`comm` or argv[0]
   * is node), since WPPConnect Server is Node and puppeteer spawns Chromium directly (wrapper scripts `exec`).
   */
  isEngineProcess?: (proc: ProcInfo) => boolean;
  /** One process-table scan shared by inspections close together (see ProcSnapshots); without it, each scans. */
  snapshots?: ProcSnapshots;
}

/**
 * The browser processes of the process table (those with a `--user-data-dir`, renderers and helpers left out), read
 * once and shared for `maxAgeMs`: when many channels fail at once (an engine restart), each inspection read every
 * process's stat and cmdline, so the cost grew as channels × processes (issue 13). A profile's candidates are read
 * again before they count, so a browser that exited since the scan is never reported; one that started since is seen
 * at the next scan.
 */
export class ProcSnapshots {
  private snapshot: { procRoot: string; at: number; browsers: ProcInfo[] } | null = null;

  constructor(
    readonly maxAgeMs = 1_000,
    private readonly now: () => number = Date.now,
  ) {}

  browsers(procRoot: string): ProcInfo[] {
    const at = this.now();
    const s = this.snapshot;
    if (s && s.procRoot === procRoot && at - s.at < this.maxAgeMs) return s.browsers;
    const browsers = scanBrowsers(procRoot);
    this.snapshot = { procRoot, at, browsers };
    return browsers;
  }
}

export function inspectProfileLock(options: ProfileLockOptions): ProfileLockInspection {
  const profileDir = profileDirOf(options.userDataDir, options.session);
  const hostname = options.hostname ?? os.hostname();
  const procRoot = options.procRoot ?? '/proc';
  const isEngine = options.isEngineProcess ?? isNodeProcess;

  const exists = isDirectory(profileDir);
  const singletonFiles = exists ? SINGLETON_FILES.filter((name) => lexists(path.join(profileDir, name))) : [];
  const lock = exists ? readLock(path.join(profileDir, 'SingletonLock')) : null;

  let verdict: ProfileLockVerdict = 'none';
  if (lock && lock.pid === 0) verdict = 'invalid';
  else if (lock && lock.host !== hostname) verdict = 'foreign-host';
  else if (lock) verdict = isAlive(procRoot, lock.pid) ? 'live-same-host' : 'dead-pid';

  const browsers = findProfileBrowsers(procRoot, profileDir, options.snapshots).map((proc) =>
    classifyBrowser(proc, procRoot, isEngine, options.sessionClosedInEngine === true),
  );
  return {
    profileDir,
    exists,
    lock,
    verdict,
    singletonFiles,
    browserPids: browsers.map((b) => b.pid),
    orphanPids: browsers.filter((b) => b.orphaned).map((b) => b.pid),
    browsers,
  };
}

export interface HealProfileLockOptions extends ProfileLockOptions {
  /** End orphaned browsers with SIGTERM (KILL_ORPHAN_BROWSERS=true); otherwise they are only reported. */
  killOrphans: boolean;
  logger: Logger;
  kill?: (pid: number, signal: NodeJS.Signals) => unknown;
}

export interface HealProfileLockResult {
  /** What was done, one sentence each (also logged). Empty when nothing was done. */
  actions: string[];
  /** An action was taken that frees the profile for the next launch (Singleton* removed or SIGTERM sent). */
  healed: boolean;
  /** Why these actions (or none) were taken. */
  reason: string;
  /** The state found before acting. */
  inspection: ProfileLockInspection;
}

/**
 * Makes the profile launchable again, before a restart of the session, without ever touching a profile in use:
 *
 * 1. A live browser owned by the engine holds the profile → nothing (it belongs to a running engine session).
 * 2. Orphaned browsers hold it → SIGTERM them when `killOrphans`, else nothing. Singleton* files are left alone
 *    while any browser runs on the profile: removing a live lock lets two browsers share one profile. A headless
 *    Chromium ended by SIGTERM exits 0 but leaves its links behind (checked with Chromium 156); they name this host
 *    and a now-dead pid, which Chromium clears itself on the next launch and the next heal removes.
 * 3. No browser on the profile and the lock is stale (`foreign-host`, `dead-pid`, `invalid`), or there is no lock
 *    but SingletonCookie/SingletonSocket are left over → unlink them (the links themselves, never their targets).
 * 4. `live-same-host` with no browser found on the profile → nothing: the pid may be a browser whose command line
 *    we cannot read, and a reused pid is something Chromium detects itself.
 *
 * Synchronous, so it fits between close-session and start-session; it does not wait for a SIGTERMed browser.
 */
export function healProfileLock(options: HealProfileLockOptions): HealProfileLockResult {
  const { logger, session } = options;
  const kill = options.kill ?? ((pid: number, signal: NodeJS.Signals) => process.kill(pid, signal));
  const inspection = inspectProfileLock(options);
  const { profileDir } = inspection;
  const actions: string[] = [];
  const meta = { session, profileDir, verdict: inspection.verdict, lock: inspection.lock?.target ?? null };
  const done = (healed: boolean, reason: string, level: 'info' | 'warn' = 'info'): HealProfileLockResult => {
    logger[level](healed ? 'profile lock healed' : 'profile lock left alone', { ...meta, reason, actions });
    return { actions, healed, reason, inspection };
  };

  if (!inspection.exists) return done(false, 'the profile directory does not exist: nothing to heal');

  const owned = inspection.browsers.filter((b) => !b.orphaned);
  if (owned.length > 0) {
    const who = owned.map((b) => `pid ${b.pid} (${b.why})`).join(', ');
    return done(false, `a browser owned by the engine runs on this profile: ${who}; it is never touched`);
  }

  const orphans = inspection.browsers.filter((b) => b.orphaned);
  if (orphans.length > 0) {
    const who = orphans.map((b) => `pid ${b.pid} (${b.why})`).join(', ');
    if (!options.killOrphans) {
      return done(
        false,
        `an orphaned browser holds the profile: ${who}; KILL_ORPHAN_BROWSERS is not true, so it is left running`,
        'warn',
      );
    }
    for (const orphan of orphans) {
      const action = terminateOrphan(orphan, options, kill, profileDir);
      if (action) {
        actions.push(action);
        logger.info('profile lock heal action', { ...meta, action, reason: orphan.why });
      }
    }
    const sent = actions.length > 0;
    return done(sent, `orphaned browser on the profile: ${who}`, sent ? 'info' : 'warn');
  }

  const stale = inspection.verdict === 'foreign-host' || inspection.verdict === 'dead-pid';
  const leftovers = inspection.verdict === 'none' && inspection.singletonFiles.length > 0;
  if (!stale && !leftovers && inspection.verdict !== 'invalid') {
    return done(
      false,
      inspection.verdict === 'none'
        ? 'no SingletonLock and no leftover Singleton files'
        : `the lock owner pid ${inspection.lock?.pid} is alive on this host; Chromium checks that pid itself`,
    );
  }
  const why = staleReason(inspection, options.hostname ?? os.hostname());
  for (const name of inspection.singletonFiles) {
    const action = unlinkEntry(path.join(profileDir, name), name);
    if (!action) continue;
    actions.push(action);
    logger.info('profile lock heal action', { ...meta, action, reason: why });
  }
  return done(actions.length > 0, why);
}

function staleReason(inspection: ProfileLockInspection, hostname: string): string {
  const lock = inspection.lock;
  switch (inspection.verdict) {
    case 'foreign-host':
      return `SingletonLock names another host (${lock?.host}, this is ${hostname}): a stale lock that causes Chrome Code 21`;
    case 'dead-pid':
      return `SingletonLock names pid ${lock?.pid} on this host, which is not running: a stale lock`;
    case 'invalid':
      return `SingletonLock is not a <hostname>-<pid> link (${lock?.target}): a stale lock`;
    default:
      return 'no SingletonLock, but leftover Singleton files from an earlier browser';
  }
}

function terminateOrphan(
  orphan: ProfileBrowser,
  options: HealProfileLockOptions,
  kill: (pid: number, signal: NodeJS.Signals) => unknown,
  profileDir: string,
): string | undefined {
  if (orphan.pid <= 1 || orphan.pid === process.pid) return undefined;
  // The pid may have been reused since the scan: check it still is this profile's browser.
  const procRoot = options.procRoot ?? '/proc';
  const again = readProc(procRoot, orphan.pid);
  if (!again || !holdsProfile(again, procRoot, profileDir)) return `orphaned browser pid ${orphan.pid} already exited`;
  try {
    kill(orphan.pid, 'SIGTERM');
    return `sent SIGTERM to orphaned browser pid ${orphan.pid} (${orphan.why})`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return `orphaned browser pid ${orphan.pid} already exited`;
    options.logger.error('could not end orphaned browser', {
      session: options.session,
      profileDir,
      pid: orphan.pid,
      error: code ?? String(error),
    });
    return undefined;
  }
}

/** Unlinks a Singleton entry: the symlink itself (unlink never follows), never a directory. */
function unlinkEntry(file: string, name: string): string | undefined {
  let target: string | undefined;
  try {
    const stat = fs.lstatSync(file);
    if (stat.isDirectory()) return undefined;
    if (stat.isSymbolicLink()) target = fs.readlinkSync(file);
    fs.unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return target === undefined ? `removed ${name}` : `removed ${name} (-> ${target})`;
}

function profileDirOf(userDataDir: string, session: string): string {
  // The session becomes a path segment: refuse anything that could leave userDataDir.
  if (!session || session === '.' || session === '..' || /[/\\\0]/.test(session)) {
    throw new GatewayError('VALIDATION_FAILED', {
      message: `Invalid session name for a profile directory: ${session}`,
    });
  }
  return path.resolve(userDataDir, session);
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function lexists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** SingletonLock → `<hostname>-<pid>`; the hostname may contain dashes, so split on the last one. */
function readLock(file: string): ProfileLockOwner | null {
  let target: string;
  try {
    target = fs.readlinkSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    // EINVAL: a regular file (e.g. a volume copied with links dereferenced): present but not a valid lock.
    return lexists(file) ? { target: '', host: '', pid: 0 } : null;
  }
  const dash = target.lastIndexOf('-');
  const pidText = dash === -1 ? '' : target.slice(dash + 1);
  const pid = /^\d+$/.test(pidText) ? Number(pidText) : 0;
  if (dash <= 0 || pid <= 0) return { target, host: '', pid: 0 };
  return { target, host: target.slice(0, dash), pid };
}

/** A pid is alive when its /proc entry exists and it is not a zombie (`<defunct>` under an init, §5.3). */
function isAlive(procRoot: string, pid: number): boolean {
  const proc = readProc(procRoot, pid);
  if (proc) return proc.state !== 'Z' && proc.state !== 'X';
  return isDirectory(path.join(procRoot, String(pid)));
}

/** Reads `<procRoot>/<pid>/stat` and `cmdline`; undefined when the process is gone or unreadable. */
export function readProc(procRoot: string, pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(path.join(procRoot, String(pid), 'stat'), 'utf8');
  } catch {
    return undefined;
  }
  // "<pid> (<comm>) <state> <ppid> …": comm may hold spaces and ')' so cut at the last ')'.
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  if (open === -1 || close < open) return undefined;
  const fields = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const ppid = Number(fields[1]);
  if (!Number.isInteger(ppid)) return undefined;
  let argv: string[] = [];
  try {
    argv = fs
      .readFileSync(path.join(procRoot, String(pid), 'cmdline'), 'utf8')
      .split('\0')
      .filter((a) => a !== '');
  } catch {
    // Kernel threads and processes of other users (hidepid) have no readable cmdline.
  }
  return { pid, ppid, state: fields[0] ?? '?', comm: stat.slice(open + 1, close), argv };
}

function findProfileBrowsers(procRoot: string, profileDir: string, snapshots?: ProcSnapshots): ProcInfo[] {
  if (!snapshots) return scanBrowsers(procRoot).filter((proc) => holdsProfile(proc, procRoot, profileDir));
  const found: ProcInfo[] = [];
  for (const candidate of snapshots.browsers(procRoot)) {
    if (!holdsProfile(candidate, procRoot, profileDir)) continue;
    // Read again: the pid may have exited (or been reused) since the shared scan.
    const proc = readProc(procRoot, candidate.pid);
    if (proc && proc.state !== 'Z' && proc.state !== 'X' && holdsProfile(proc, procRoot, profileDir)) found.push(proc);
  }
  return found;
}

/** Every live browser process (a `--user-data-dir`, not a `--type=` child), by pid. */
function scanBrowsers(procRoot: string): ProcInfo[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return [];
  }
  const found: ProcInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const proc = readProc(procRoot, Number(entry));
    if (!proc || proc.state === 'Z' || proc.state === 'X') continue;
    // Renderer, GPU and zygote children repeat --user-data-dir; only the browser process owns the lock.
    if (proc.argv.some((a) => a.startsWith('--type='))) continue;
    if (proc.argv.some((a) => a.startsWith('--user-data-dir='))) found.push(proc);
  }
  return found.sort((a, b) => a.pid - b.pid);
}

function holdsProfile(proc: ProcInfo, procRoot: string, profileDir: string): boolean {
  for (const arg of proc.argv) {
    if (!arg.startsWith('--user-data-dir=')) continue;
    const value = arg.slice('--user-data-dir='.length);
    if (!value) continue;
    if (path.isAbsolute(value)) {
      if (path.resolve(value) === profileDir) return true;
      continue;
    }
    // The engine's default CUSTOM_USER_DATA_DIR is relative (./userDataDir/): resolve it against the browser's cwd.
    try {
      const cwd = fs.readlinkSync(path.join(procRoot, String(proc.pid), 'cwd'));
      if (path.resolve(cwd, value) === profileDir) return true;
    } catch {
      // cwd unreadable: the relative form cannot be compared.
    }
  }
  return false;
}

function classifyBrowser(
  proc: ProcInfo,
  procRoot: string,
  isEngine: (proc: ProcInfo) => boolean,
  sessionClosedInEngine: boolean,
): ProfileBrowser {
  const base = { pid: proc.pid, ppid: proc.ppid };
  const parent = proc.ppid > 0 ? readProc(procRoot, proc.ppid) : undefined;
  if (!parent || parent.state === 'Z' || parent.state === 'X') {
    return { ...base, parentComm: parent?.comm ?? null, orphaned: true, why: `its parent pid ${proc.ppid} is gone` };
  }
  const label = `parent pid ${parent.pid} "${parent.comm}"`;
  if (!isEngine(parent)) {
    // Typically pid 1 (an init such as tini, or systemd) or a subreaper that adopted it after the engine died.
    return { ...base, parentComm: parent.comm, orphaned: true, why: `${label} is not the engine` };
  }
  if (sessionClosedInEngine) {
    return {
      ...base,
      parentComm: parent.comm,
      orphaned: true,
      why: `${label} is the engine, but the engine has closed this session`,
    };
  }
  return { ...base, parentComm: parent.comm, orphaned: false, why: `${label} is the engine` };
}

function isNodeProcess(proc: ProcInfo): boolean {
  const argv0 = path.basename(proc.argv[0] ?? '');
  return /^node/i.test(proc.comm) || /^(node|nodejs)(\d+)?$/i.test(argv0);
}

export interface ReleaseProfileOptions extends ProfileLockOptions {
  /** End every browser that still holds the profile (KILL_ORPHAN_BROWSERS); otherwise they are only reported. */
  endBrowsers: boolean;
  /** Remove stale Singleton* entries (HEAL_PROFILE_LOCKS); otherwise they are only reported. */
  removeStaleLocks: boolean;
  logger: Logger;
  kill?: (pid: number, signal: NodeJS.Signals) => unknown;
  /** How long a SIGTERMed browser gets to exit before SIGKILL, and SIGKILL before giving up. @default 5000 */
  graceMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface ProfileRelease {
  /** No browser holds the profile and no lock Chromium would refuse is left: the next launch can take it. */
  free: boolean;
  /** What was done, one sentence each. */
  actions: string[];
  /** When not free: what still holds the profile. Otherwise what was found. */
  reason: string;
  /** Pids of browsers still on the profile after the release (empty when free). */
  remainingPids: number[];
  inspection: ProfileLockInspection;
}

/**
 * Frees a channel's profile for the next launch, after the engine closed the session (the caller checked that the
 * engine reports it CLOSED). WPPConnect's close-session on a session that never logged in leaves that attempt's
 * Chromium running under the engine, and every later start then fails with "The browser is already running for …"
 * (wppconnect-engine.md §7.3), so a browser on the profile is ended whoever its parent is: SIGTERM, then SIGKILL after
 * `graceMs`, and its exit is waited for. Stale Singleton* entries (foreign host, dead pid) are then removed, and the
 * profile is inspected again: `free` is what the next launch will find, not what was attempted.
 */
export async function releaseProfile(options: ReleaseProfileOptions): Promise<ProfileRelease> {
  const graceMs = options.graceMs ?? 5_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const kill = options.kill ?? ((pid: number, signal: NodeJS.Signals) => process.kill(pid, signal));
  const procRoot = options.procRoot ?? '/proc';
  const inspectOptions = { ...options, sessionClosedInEngine: true };
  const actions: string[] = [];
  let inspection = inspectProfileLock(inspectOptions);
  const profileDir = inspection.profileDir;
  const holding = (pids: number[]) =>
    pids.filter((pid) => {
      const proc = readProc(procRoot, pid);
      return proc !== undefined && proc.state !== 'Z' && proc.state !== 'X' && holdsProfile(proc, procRoot, profileDir);
    });
  const waitGone = async (pids: number[], ms: number): Promise<number[]> => {
    const until = Date.now() + ms;
    let left = holding(pids);
    while (left.length > 0 && Date.now() < until) {
      await sleep(100);
      left = holding(left);
    }
    return left;
  };

  if (inspection.browserPids.length > 0 && options.endBrowsers) {
    const signal = (pids: number[], sig: NodeJS.Signals) => {
      for (const pid of pids) {
        if (pid <= 1 || pid === process.pid) continue;
        try {
          kill(pid, sig);
          actions.push(`sent ${sig} to browser pid ${pid} on the profile`);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
            options.logger.error('could not end a browser on the profile', {
              session: options.session,
              profileDir,
              pid,
              error: (error as NodeJS.ErrnoException).code ?? String(error),
            });
          }
        }
      }
    };
    const why = inspection.browsers.map((b) => `pid ${b.pid} (${b.why})`).join(', ');
    options.logger.info('ending browsers left on a closed session profile', {
      session: options.session,
      browsers: why,
    });
    signal(holding(inspection.browserPids), 'SIGTERM');
    const stubborn = await waitGone(inspection.browserPids, graceMs);
    if (stubborn.length > 0) {
      signal(stubborn, 'SIGKILL');
      await waitGone(stubborn, graceMs);
    }
    inspection = inspectProfileLock(inspectOptions);
  }

  if (inspection.browserPids.length === 0 && options.removeStaleLocks) {
    // Only Singleton* of a profile no browser holds: a lock SIGTERMed Chromium left names this host and a dead pid.
    const healed = healProfileLock({ ...inspectOptions, killOrphans: false });
    actions.push(...healed.actions);
    if (healed.actions.length > 0) inspection = inspectProfileLock(inspectOptions);
  }

  const remainingPids = inspection.browserPids;
  let reason: string;
  let free = true;
  if (remainingPids.length > 0) {
    free = false;
    const who = inspection.browsers.map((b) => `pid ${b.pid} (${b.why})`).join(', ');
    reason = options.endBrowsers
      ? `a browser still holds the profile after SIGTERM and SIGKILL: ${who}`
      : `a browser holds the profile: ${who}; KILL_ORPHAN_BROWSERS=false, so it is left running`;
  } else if (inspection.verdict === 'foreign-host') {
    free = false;
    reason = `SingletonLock names another host (${inspection.lock?.host}); HEAL_PROFILE_LOCKS=false, so it is left (Chrome exits with Code 21 on it)`;
  } else {
    reason = actions.length > 0 ? 'the profile was freed' : 'no browser and no stale lock on the profile';
  }
  options.logger[free ? 'info' : 'warn'](free ? 'profile free for the next start' : 'profile still held', {
    session: options.session,
    profileDir,
    reason,
    actions,
  });
  return { free, actions, reason, remainingPids, inspection };
}

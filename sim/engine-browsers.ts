import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkProfile, readLock, spawnBrowser, writeSingletons } from './browser-processes';
import type { SimulatorOptions } from './engine-config';
import type { BrowserProc, Client } from './engine-entry';
import type { ErrorForLog } from './engine-log';
import {
  alreadyRunningError,
  code21Error,
  type FailMode,
  type LaunchFailure,
  launchFailure,
  randomPid,
  spawnError,
} from './launch-failures';

export interface BrowserView {
  session: string;
  pid: number;
  /** false for a browser no engine entry owns any more (an orphan of close-session). */
  attached: boolean;
}

/**
 * The engine's browsers: each session's profile folder, the checks Chromium and puppeteer 24 make before a launch,
 * the browser processes (process mode; a flag on the entry in virtual mode) and the orphans close-session leaves
 * running. A browser that dies without the simulator ending it goes to `died` (puppeteer's `disconnected` event).
 */
export class Browsers {
  private readonly userDataDir: string;
  /** CUSTOM_USER_DATA_DIR as the server concatenates it: `<dir>/` + session. */
  private readonly userDataDirText: string;
  private readonly processMode: boolean;
  private readonly hostname: string;
  private readonly chromePath: string | undefined;
  /** Process mode: every browser process spawned and not yet exited. */
  private readonly procs = new Set<BrowserProc>();
  /** Pre-login entries replaced by close-session whose browser may still run (orphanBrowsersOnClose). */
  private readonly orphans = new Map<string, Client[]>();
  /** failNextStart: the next launch of a session (or of any, `*`) fails this way. */
  private readonly failNext = new Map<string, FailMode>();
  private disposed = false;

  constructor(
    options: SimulatorOptions,
    private readonly died: (client: Client) => void,
  ) {
    this.userDataDir = options.userDataDir ?? '/usr/src/wpp-server/userDataDir/';
    this.userDataDirText = this.userDataDir.endsWith('/') ? this.userDataDir : `${this.userDataDir}/`;
    this.processMode = options.browserProcesses === true;
    this.hostname = options.hostname ?? os.hostname();
    this.chromePath = options.chromePath;
    if (this.processMode) {
      let isDir = false;
      try {
        isDir = fs.statSync(this.userDataDir).isDirectory();
      } catch {
        // reported below
      }
      if (!path.isAbsolute(this.userDataDir) || !isDir)
        throw new Error(
          `browserProcesses needs userDataDir to be an existing absolute directory, got ${this.userDataDir}`,
        );
    }
  }

  // ---- profiles ----------------------------------------------------------------------------------------------

  /** The profile folder as the server logs it (`Using browser folder '…'`). */
  profileText(name: string): string {
    return `${this.userDataDirText}${name}`;
  }

  /** The profile folder as puppeteer resolves it. */
  profileOf(name: string): string {
    return this.processMode ? path.join(this.userDataDir, name) : path.resolve(this.profileText(name));
  }

  /** Logout: the server deletes userDataDir/<session> (the browser still runs on it). Only real in process mode. */
  removeProfile(name: string): void {
    if (this.processMode) fs.rmSync(this.profileOf(name), { recursive: true, force: true });
  }

  // ---- orphans -----------------------------------------------------------------------------------------------

  orphansOf(name: string): Client[] {
    return this.orphans.get(name) ?? [];
  }

  /** Every orphan of every session. */
  allOrphans(): Client[] {
    return [...this.orphans.values()].flat();
  }

  isOrphan(client: Client): boolean {
    return this.orphansOf(client.name).includes(client);
  }

  forgetOrphan(client: Client): void {
    const list = this.orphansOf(client.name).filter((o) => o !== client);
    if (list.length > 0) this.orphans.set(client.name, list);
    else this.orphans.delete(client.name);
  }

  /** The engine process went away: no orphan is left. */
  forgetOrphans(): void {
    this.orphans.clear();
  }

  /**
   * A pre-login entry left behind with its browser still running: from now on its webhooks go through the reset
   * `{status:null}` entry, which has no `session` field (spec §2.2: `{"event":"status-find","status":"browserClose"}`).
   */
  orphanize(client: Client): void {
    client.hasSessionField = false;
    this.orphans.set(client.name, [...this.orphansOf(client.name), client]);
  }

  // ---- launching -----------------------------------------------------------------------------------------------

  failNextStart(mode: FailMode, name?: string): void {
    this.failNext.set(name ?? '*', mode);
  }

  /**
   * What the launch of session `name` on `profile` runs into, in the order Chromium and puppeteer meet it: the
   * executable, then the profile, then a forced failure (which it uses up). A `launch` failure means no browser; the
   * others let the browser start and fail later. undefined: the launch goes through.
   */
  launchCheck(name: string, profile: string): LaunchFailure | undefined {
    // 1. The executable (CHROME_PATH): spawn fails before Chromium ever looks at the profile.
    const chromePath = this.chromePath;
    if (chromePath) {
      let code: 'ENOENT' | 'EACCES' | undefined;
      if (!fs.existsSync(chromePath)) code = 'ENOENT';
      else {
        try {
          fs.accessSync(chromePath, fs.constants.X_OK);
        } catch {
          code = 'EACCES';
        }
      }
      if (code) return { kind: 'launch', error: spawnError(chromePath, code) };
    }
    // 2. The profile: a live browser on it, or a lock from another computer.
    if (this.processMode) {
      try {
        fs.mkdirSync(profile, { recursive: true });
      } catch {
        // checkProfile and the spawn report what is wrong
      }
      const check = checkProfile(profile, this.hostname);
      if (check.kind === 'foreign-lock')
        return { kind: 'launch', error: code21Error({ host: check.host, pid: check.pid }, randomPid()) };
      if (check.kind === 'in-use') return { kind: 'launch', error: alreadyRunningError(profile) };
    } else if (this.orphansOf(name).some((o) => o.browser === 'running')) {
      return { kind: 'launch', error: alreadyRunningError(profile) };
    }
    // 3. A forced failure (failNextStart).
    const mode = this.failNext.get(name) ?? this.failNext.get('*');
    if (!mode) return undefined;
    if (this.failNext.has(name)) this.failNext.delete(name);
    else this.failNext.delete('*');
    const lock = readLock(profile);
    return launchFailure(mode, profile, {
      lock: lock.kind === 'lock' ? { host: lock.host, pid: lock.pid } : undefined,
      chromePath,
    });
  }

  /**
   * The browser of `client` starts on `profile`. Process mode: the stand-in process is spawned and the profile gets
   * Chromium's links; the spawn's own failure is returned. Virtual mode: nothing to do.
   */
  start(client: Client, profile: string): ErrorForLog | undefined {
    if (!this.processMode) return undefined;
    const child = spawnBrowser(profile);
    if (child.pid === undefined) {
      child.once('error', () => undefined);
      return spawnError(process.execPath, 'EACCES');
    }
    let resolveExit: () => void = () => undefined;
    const proc: BrowserProc = {
      child,
      pid: child.pid,
      profile,
      owner: client,
      closing: false,
      alive: true,
      exited: new Promise<void>((resolve) => (resolveExit = resolve)),
    };
    const onExit = () => {
      if (!proc.alive) return;
      proc.alive = false;
      this.procs.delete(proc);
      resolveExit();
      // Killed from outside (the gateway, a test, the OOM killer): puppeteer's `disconnected` event.
      if (!proc.closing && !this.disposed && proc.owner.proc === proc) this.died(proc.owner);
    };
    child.once('exit', onExit);
    child.once('error', onExit);
    this.procs.add(proc);
    client.proc = proc;
    try {
      writeSingletons(profile, this.hostname, proc.pid);
    } catch {
      // The profile vanished under us (a test cleaning up); the process still runs.
    }
    return undefined;
  }

  /**
   * The simulator ends a browser itself (close, autoclose, logout, restart): SIGTERM, and the exit handler stays
   * quiet (the caller sends what the real flow sends). Virtual mode: nothing to end.
   */
  end(client: Client): void {
    const proc = client.proc;
    client.proc = undefined;
    if (proc?.alive) {
      proc.closing = true;
      proc.child.kill('SIGTERM');
    }
  }

  /**
   * Exits still to come of browsers the simulator is closing on `profile`: puppeteer's browser.close() resolves once
   * the process exited, so a start right after waits for them instead of finding them alive in /proc.
   */
  closingOn(profile: string): Array<Promise<void>> {
    return [...this.procs].filter((p) => p.profile === profile && p.closing && p.alive).map((p) => p.exited);
  }

  /** The live browser processes; `attached` when `clients` still holds the entry that owns it. */
  views(clients: Map<string, Client>): BrowserView[] {
    return [...this.procs]
      .filter((p) => p.alive)
      .map((p) => ({ session: p.owner.name, pid: p.pid, attached: clients.get(p.owner.name) === p.owner }));
  }

  /** Every browser process spawned ends with the simulator (as puppeteer closes its browsers on SIGTERM). */
  dispose(): void {
    this.disposed = true;
    for (const proc of this.procs) {
      proc.closing = true;
      try {
        proc.child.kill('SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import { startSimulator } from '../../sim/wppconnect-simulator';

/**
 * The engine contract suite's target: the built-in simulator (default, in-process, as `npm test` runs it) or a real
 * WPPConnect Server (`WPPCONNECT_CONTRACT_URL` set, as `npm run test:contract` runs it against one). The same test
 * files run against both; what a target cannot do (a scanned phone, the engine's host, its log…) is known when the
 * tests are defined, so a case that needs it is a visible `test.skip` with its reason printed.
 *
 * Real-engine variables:
 *   WPPCONNECT_CONTRACT_URL, WPPCONNECT_CONTRACT_SECRET          the engine and its SECRET_KEY (required)
 *   WPPCONNECT_CONTRACT_USER_DATA_DIR                            its userDataDir, on this host (locks, /proc)
 *   WPPCONNECT_CONTRACT_LOG_FILE                                 its captured stdout
 *   WPPCONNECT_CONTRACT_CHROME_PATH                              a Chromium to hold a profile (default /usr/bin/chromium)
 *   WPPCONNECT_CONTRACT_BROKEN_CHROME_URL                        a second engine started with a non-executable CHROME_PATH
 *   WPPCONNECT_CONTRACT_BROKEN_CHROME_LOG_FILE                   that engine's stdout
 *   WPPCONNECT_CONTRACT_BROKEN_CHROME_USER_DATA_DIR              that engine's userDataDir (only to remove the profiles)
 */

export type Need =
  /** The engine runs on this host and its userDataDir is known: plant locks, see and end its browser processes. */
  | 'host'
  /** The engine's stdout (where the `[<s>:browser]` lines go). */
  | 'log'
  /** Something that holds a profile the way a live browser does, for the engine's launch to trip over. */
  | 'liveBrowser'
  /** A second engine whose CHROME_PATH is not executable. */
  | 'brokenChrome'
  | 'brokenChromeLog'
  /** WhatsApp Web loads and a phone scans the QR: only the simulator can. */
  | 'phone';

const REASONS: Record<Need, string> = {
  host: 'needs the engine on this host (WPPCONNECT_CONTRACT_USER_DATA_DIR, and /proc)',
  log: "needs the engine's stdout (WPPCONNECT_CONTRACT_LOG_FILE)",
  liveBrowser: 'needs a Chromium to hold a profile (WPPCONNECT_CONTRACT_CHROME_PATH, default /usr/bin/chromium)',
  brokenChrome: 'needs an engine started with a non-executable CHROME_PATH (WPPCONNECT_CONTRACT_BROKEN_CHROME_URL)',
  brokenChromeLog: "needs that engine's stdout (WPPCONNECT_CONTRACT_BROKEN_CHROME_LOG_FILE)",
  phone: 'needs WhatsApp Web and a scanned phone (simulator only)',
};

// ---- HTTP ------------------------------------------------------------------------------------------------------

export interface Reply {
  status: number;
  contentType: string;
  text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  body: any;
}

export class NoAnswer extends Error {
  constructor(method: string, url: string, ms: number) {
    super(`no answer within ${ms} ms: ${method} ${url}`);
    this.name = 'NoAnswer';
  }
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Sent as-is; give `contentType` to label it. */
  body?: string;
  timeoutMs?: number;
}

/** One engine API: raw HTTP with full control of the headers (no keep-alive, nothing added but Host). */
export class EngineClient {
  private readonly tokens = new Map<string, string>();
  /** Sessions this client asked to start (their browsers may outlive close-session). */
  readonly startedSessions = new Set<string>();

  constructor(
    readonly url: string,
    readonly secret: string,
  ) {}

  request(method: string, route: string, options: RequestOptions = {}): Promise<Reply> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const target = new URL(route, this.url);
    return new Promise<Reply>((resolve, reject) => {
      const req = http.request(target, { method, headers: options.headers ?? {}, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text, body });
        });
        res.on('error', reject);
      });
      const timer = setTimeout(() => req.destroy(new NoAnswer(method, route, timeoutMs)), timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(options.body);
    });
  }

  /** A token for the session, minted once (tokens never expire, §1.1). */
  async token(session: string): Promise<string> {
    let token = this.tokens.get(session);
    if (!token) {
      const reply = await this.request('POST', `/api/${session}/${this.secret}/generate-token`);
      if (reply.status !== 201) throw new Error(`generate-token for ${session}: ${reply.status} ${reply.text}`);
      token = String(reply.body.token);
      this.tokens.set(session, token);
    }
    return token;
  }

  /**
   * A bearer route of the session. `json` sends that body with exactly `Content-Type: application/json` (unless
   * `contentType` says otherwise); without it the request has no body and no Content-Type.
   */
  async call(
    method: 'GET' | 'POST',
    session: string,
    route: string,
    options: { json?: unknown; contentType?: string; timeoutMs?: number } = {},
  ): Promise<Reply> {
    if (route === 'start-session') this.startedSessions.add(session);
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.token(session)}` };
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    const contentType = options.contentType ?? (body === undefined ? undefined : 'application/json');
    if (contentType) headers['Content-Type'] = contentType;
    return this.request(method, `/api/${session}/${route}`, { headers, body, timeoutMs: options.timeoutMs });
  }

  status(session: string): Promise<Reply> {
    return this.call('GET', session, 'status-session');
  }

  /** start-session with `{}` and exactly `Content-Type: application/json` (what the gateway sends). */
  start(session: string, contentType = 'application/json'): Promise<Reply> {
    return this.call('POST', session, 'start-session', { json: {}, contentType });
  }

  close(session: string): Promise<Reply> {
    return this.call('POST', session, 'close-session');
  }
}

// ---- polling, logs, processes -----------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something other than undefined; throws with the last value seen. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
) {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    last = value;
    if (Date.now() > until)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await sleep(100);
  }
}

/** Waits until status-session says `status`; returns that reply. */
export async function waitForStatus(client: EngineClient, session: string, status: string, timeoutMs = 15_000) {
  let seen = '';
  return waitFor(
    `status ${status} for ${session}`,
    async () => {
      const reply = await client.status(session);
      seen = reply.text;
      return reply.body?.status === status ? reply : undefined;
    },
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last status-session: ${seen}`);
  });
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** The engine's stdout from a point on, ANSI colours stripped. */
export class LogWatch {
  private readonly offset: number;

  constructor(private readonly file: string) {
    this.offset = fs.existsSync(file) ? fs.statSync(file).size : 0;
  }

  lines(): string[] {
    if (!fs.existsSync(this.file)) return [];
    const fd = fs.openSync(this.file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.max(0, size - this.offset));
      fs.readSync(fd, buffer, 0, buffer.length, this.offset);
      return buffer.toString('utf8').replace(ANSI, '').split('\n');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The first line written since the mark that satisfies `match`. */
  waitForLine(what: string, match: (line: string) => boolean, timeoutMs = 15_000): Promise<string> {
    return waitFor(`a log line with ${what}`, () => this.lines().find(match), timeoutMs);
  }
}

function readArgv(pid: string): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * The browser processes on a profile: live processes whose command line holds `--user-data-dir=<profile>`, without
 * Chromium's `--type=` helpers. Zombies have an empty command line and never match.
 */
export function browsersOn(profile: string): number[] {
  const wanted = new Set([`--user-data-dir=${profile}`, `--user-data-dir=${profile}/`]);
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = readArgv(entry);
    if (argv?.some((a) => wanted.has(a)) && !argv.some((a) => a.startsWith('--type='))) pids.push(Number(entry));
  }
  return pids;
}

/** Alive and not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The process is gone and reaped: its parent (the engine, which launched it) has collected its exit, so the engine
 * knows it ended. A zombie is dead but not yet reaped; an engine action taken then can still find its browser
 * "running" (the loop saw that once in ten runs under load).
 */
export function processReaped(pid: number): boolean {
  return !fs.existsSync(`/proc/${pid}`);
}

/** SIGTERM each browser on the profile (SIGKILL after 5 s) and wait until none is left. */
export async function endBrowsersOn(profile: string): Promise<void> {
  const pids = browsersOn(profile);
  for (const pid of pids) signal(pid, 'SIGTERM');
  const until = Date.now() + 5000;
  while (pids.some(processAlive) && Date.now() < until) await sleep(50);
  for (const pid of pids.filter(processAlive)) signal(pid, 'SIGKILL');
  while (pids.some(processAlive) && Date.now() < until + 3000) await sleep(50);
  // …and until the engine has reaped them (see processReaped).
  while (!pids.every(processReaped) && Date.now() < until + 6000) await sleep(50);
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Plants what Chromium leaves in a profile used under another hostname: `SingletonLock -> otherhost-12345`. */
export function plantForeignLock(profile: string): void {
  fs.mkdirSync(profile, { recursive: true });
  fs.rmSync(path.join(profile, 'SingletonLock'), { force: true });
  fs.symlinkSync('otherhost-12345', path.join(profile, 'SingletonLock'));
}

// ---- targets ---------------------------------------------------------------------------------------------------

export interface EngineUnderTest {
  client: EngineClient;
  /** Absolute; the profile of session `s` is `<userDataDir>/<s>`. */
  userDataDir?: string;
  logFile?: string;
}

export interface ContractTarget {
  readonly name: 'simulator' | 'real engine';
  /** Known when the tests are defined. */
  can(...needs: Need[]): boolean;
  /** The engine the suite runs against (WhatsApp Web unreachable, as in a loopback-only network). */
  readonly main: EngineUnderTest;
  /** An engine where WhatsApp Web loads and `scan` logs the phone in (`phone`). */
  readonly phone: EngineUnderTest & { scan(session: string): Promise<void> };
  /** An engine started with a non-executable CHROME_PATH (`brokenChrome`). */
  readonly broken: EngineUnderTest;
  /** How long a state has to hold to count as "forever" here. */
  readonly holdMs: number;
  /** A unique session name for this run (`contract-<run>-<label>`), closed and cleaned up by stop(). */
  session(label: string, engine?: EngineUnderTest): string;
  profile(session: string, engine?: EngineUnderTest): string;
  /**
   * Starts something that holds the profile like a live browser. The simulator recognises any process with
   * `--user-data-dir=<profile>` in its argv; Chromium only gives way to a live Chromium that owns the profile's
   * SingletonLock, so on a real engine this is a real headless Chromium.
   */
  spawnLiveBrowser(profile: string): Promise<ChildProcess>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Start the engine that lets a phone scan (simulator only). */
  phone?: boolean;
  /** Start the engine with a non-executable CHROME_PATH (simulator) / use WPPCONNECT_CONTRACT_BROKEN_CHROME_URL. */
  brokenChrome?: boolean;
}

const env = process.env;
const RUN = crypto.randomBytes(4).toString('hex').slice(0, 6);
const HAS_PROC = fs.existsSync('/proc/self/cmdline');

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function contractTarget(options: TargetOptions = {}): ContractTarget {
  // Real sockets only: the per-file nock setup (test/helpers/nock-per-file.ts) would otherwise sit in between.
  beforeAll(() => nock.restore());
  return env.WPPCONNECT_CONTRACT_URL ? realTarget(options) : simulatorTarget(options);
}

abstract class BaseTarget {
  abstract readonly main: EngineUnderTest;
  protected readonly named: Array<{ engine: EngineUnderTest; session: string }> = [];
  protected readonly spawned = new Set<ChildProcess>();

  session(label: string, engine?: EngineUnderTest): string {
    const name = `contract-${RUN}-${label}`;
    this.named.push({ engine: engine ?? this.main, session: name });
    return name;
  }

  profile(session: string, engine?: EngineUnderTest): string {
    const dir = (engine ?? this.main).userDataDir;
    if (!dir) throw new Error('this target has no userDataDir');
    return path.join(dir, session);
  }

  protected track(child: ChildProcess): ChildProcess {
    this.spawned.add(child);
    child.once('exit', () => this.spawned.delete(child));
    return child;
  }

  protected async waitUntilHeld(child: ChildProcess, profile: string, lock: boolean): Promise<ChildProcess> {
    await waitFor(`process ${child.pid} to hold ${profile}`, () =>
      browsersOn(profile).includes(child.pid ?? -1) &&
      (!lock || fs.existsSync(path.join(profile, 'SingletonLock')) || isSymlink(path.join(profile, 'SingletonLock')))
        ? true
        : undefined,
    );
    return child;
  }

  /** Close every session this run started, end its browsers and the processes it spawned, drop its profiles. */
  protected async cleanUp(removeProfiles: boolean): Promise<void> {
    for (const child of this.spawned) {
      child.kill('SIGTERM');
    }
    for (const { engine, session } of this.named) {
      await engine.client.close(session).catch(() => undefined);
    }
    const unreachable = this.named
      .filter(({ engine, session }) => engine.client.startedSessions.has(session) && (!engine.userDataDir || !HAS_PROC))
      .map((s) => s.session);
    if (unreachable.length > 0) {
      // close-session does not end a pre-login browser (§7.3); without the engine's host nobody here can.
      console.log(
        `not on the engine's host: browsers of ${unreachable.join(', ')} may still run; end the Chromium processes ` +
          'with --user-data-dir=<userDataDir>/<session> (or restart the engine)',
      );
    }
    for (const { engine, session } of this.named) {
      if (!engine.userDataDir || !HAS_PROC) continue;
      const profile = path.join(engine.userDataDir, session);
      await endBrowsersOn(profile);
      if (removeProfiles) fs.rmSync(profile, { recursive: true, force: true });
    }
    const until = Date.now() + 5000;
    while (this.spawned.size > 0 && Date.now() < until) await sleep(50);
    for (const child of this.spawned) child.kill('SIGKILL');
  }
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

function unavailable(what: string): never {
  throw new Error(`${what} is not available on this target`);
}

function simulatorTarget(options: TargetOptions): ContractTarget {
  const secret = 'THISISMYSECURETOKEN';
  const stops: Array<() => Promise<void>> = [];
  let tmp = '';
  let scanner: ((session: string) => Promise<void>) | undefined;

  class SimulatorTarget extends BaseTarget implements ContractTarget {
    readonly name = 'simulator' as const;
    readonly holdMs = 600;
    main: EngineUnderTest = { client: new EngineClient('http://unstarted.invalid', secret) };
    broken: EngineUnderTest = { client: new EngineClient('http://unstarted.invalid', secret) };
    phone = {
      client: new EngineClient('http://unstarted.invalid', secret),
      scan: (session: string) => (scanner ?? unavailable('phone'))(session),
    };

    can(...needs: Need[]): boolean {
      return needs.every((need) => {
        if (need === 'host' || need === 'liveBrowser') return HAS_PROC;
        if (need === 'brokenChrome' || need === 'brokenChromeLog') return options.brokenChrome === true && HAS_PROC;
        if (need === 'phone') return options.phone === true;
        return true;
      });
    }

    async spawnLiveBrowser(profile: string): Promise<ChildProcess> {
      fs.mkdirSync(profile, { recursive: true });
      const child = spawn(
        process.execPath,
        [
          '-e',
          "process.on('SIGTERM',()=>process.exit(0));setInterval(()=>{},1<<30)",
          '--',
          `--user-data-dir=${profile}`,
        ],
        { stdio: 'ignore' },
      );
      return this.waitUntilHeld(this.track(child), profile, false);
    }

    async start(): Promise<void> {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'contract-sim-'));
      const mainDir = path.join(tmp, 'userDataDir');
      fs.mkdirSync(mainDir);
      // As the real engine behaves in a loopback-only network: real profiles and browser processes, WhatsApp Web
      // unreachable (INITIALIZING forever, browser running), close on a pre-login session orphans the browser.
      const main = await startSimulator({
        secretKey: secret,
        browserProcesses: true,
        userDataDir: mainDir,
        waWebReachable: false,
        orphanBrowsersOnClose: true,
        logFile: path.join(tmp, 'engine.log'),
      });
      stops.push(() => main.close());
      this.main = {
        client: new EngineClient(main.url, secret),
        userDataDir: mainDir,
        logFile: path.join(tmp, 'engine.log'),
      };
      if (options.phone) {
        const phone = await startSimulator({ secretKey: secret, waWebReachable: true, qrDelayMs: 50 });
        stops.push(() => phone.close());
        scanner = (session) => phone.control.scan(session);
        this.phone = { client: new EngineClient(phone.url, secret), scan: this.phone.scan };
      }
      if (options.brokenChrome) {
        const brokenDir = path.join(tmp, 'userDataDir-broken');
        fs.mkdirSync(brokenDir);
        const chromePath = path.join(tmp, 'noexec-chrome');
        fs.writeFileSync(chromePath, '', { mode: 0o644 });
        const broken = await startSimulator({
          secretKey: secret,
          browserProcesses: true,
          userDataDir: brokenDir,
          chromePath,
          waWebReachable: false,
          logFile: path.join(tmp, 'engine-eacces.log'),
        });
        stops.push(() => broken.close());
        this.broken = {
          client: new EngineClient(broken.url, secret),
          userDataDir: brokenDir,
          logFile: path.join(tmp, 'engine-eacces.log'),
        };
      }
    }

    async stop(): Promise<void> {
      await this.cleanUp(false);
      for (const stop of stops.splice(0).reverse()) await stop();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  return new SimulatorTarget();
}

function realTarget(options: TargetOptions): ContractTarget {
  const secret = env.WPPCONNECT_CONTRACT_SECRET ?? 'THISISMYSECURETOKEN';
  const userDataDir = env.WPPCONNECT_CONTRACT_USER_DATA_DIR
    ? path.resolve(env.WPPCONNECT_CONTRACT_USER_DATA_DIR)
    : undefined;
  const logFile = env.WPPCONNECT_CONTRACT_LOG_FILE || undefined;
  const chromePath = env.WPPCONNECT_CONTRACT_CHROME_PATH || '/usr/bin/chromium';
  const brokenUrl = env.WPPCONNECT_CONTRACT_BROKEN_CHROME_URL || undefined;
  const brokenLog = env.WPPCONNECT_CONTRACT_BROKEN_CHROME_LOG_FILE || undefined;
  const brokenDir = env.WPPCONNECT_CONTRACT_BROKEN_CHROME_USER_DATA_DIR
    ? path.resolve(env.WPPCONNECT_CONTRACT_BROKEN_CHROME_USER_DATA_DIR)
    : undefined;

  class RealTarget extends BaseTarget implements ContractTarget {
    readonly name = 'real engine' as const;
    readonly holdMs = 3000;
    readonly main: EngineUnderTest = {
      client: new EngineClient(String(env.WPPCONNECT_CONTRACT_URL), secret),
      userDataDir,
      logFile,
    };
    readonly broken: EngineUnderTest = {
      client: new EngineClient(brokenUrl ?? 'http://unset.invalid', secret),
      userDataDir: brokenDir,
      logFile: brokenLog,
    };
    readonly phone = {
      client: new EngineClient('http://unset.invalid', secret),
      scan: async (): Promise<void> => unavailable('a phone'),
    };

    can(...needs: Need[]): boolean {
      return needs.every((need) => {
        switch (need) {
          case 'host':
            return userDataDir !== undefined && HAS_PROC && fs.existsSync(userDataDir);
          case 'log':
            return logFile !== undefined && fs.existsSync(logFile);
          case 'liveBrowser':
            return isExecutable(chromePath);
          case 'brokenChrome':
            return options.brokenChrome === true && brokenUrl !== undefined;
          case 'brokenChromeLog':
            return options.brokenChrome === true && brokenLog !== undefined && fs.existsSync(brokenLog);
          case 'phone':
            return false;
        }
      });
    }

    async spawnLiveBrowser(profile: string): Promise<ChildProcess> {
      fs.mkdirSync(profile, { recursive: true });
      // Debian's /usr/bin/chromium is a script that execs the binary, so the pid stays the same.
      const child = spawn(
        chromePath,
        ['--headless=new', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, 'about:blank'],
        { stdio: 'ignore' },
      );
      return this.waitUntilHeld(this.track(child), profile, true);
    }

    async start(): Promise<void> {
      const reply = await this.main.client.request('GET', '/healthz', { timeoutMs: 5000 });
      if (reply.status !== 200)
        throw new Error(`the engine at ${this.main.client.url} is not healthy: ${reply.status}`);
    }

    async stop(): Promise<void> {
      await this.cleanUp(true);
    }
  }
  return new RealTarget();
}

/**
 * A contract case: a real test when the target has what it needs, else a visible `test.skip` and the reason printed.
 */
export function contractTest(
  target: ContractTarget,
  name: string,
  needs: Need[],
  fn: () => Promise<void>,
  timeoutMs?: number,
): void {
  const missing = needs.filter((need) => !target.can(need));
  if (missing.length === 0) {
    test(name, fn, timeoutMs);
    return;
  }
  const reasons = missing.map((need) => REASONS[need]).join('; ');
  console.log(`skipped on the ${target.name}: "${name}": ${reasons}`);
  test.skip(`${name} (${reasons})`, () => undefined);
}

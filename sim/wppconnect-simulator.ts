import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { checkProfile, readLock, spawnBrowser, writeSingletons } from './browser-processes';
import {
  CLOSE_TYPEERROR_FRAMES,
  EngineLog,
  type ErrorForLog,
  HEALTHZ_REJECTION_FRAMES,
  type LogLevel,
} from './engine-log';
import {
  alreadyRunningError,
  code21Error,
  type FailMode,
  isFailMode,
  type LaunchFailure,
  launchFailure,
  navigationError,
  randomPid,
  spawnError,
} from './launch-failures';
import { type FaultKind, FaultLayer, type FaultSpec, type FaultView } from './sim-faults';
import { qrDataUrl, qrPng } from './qr-png';
import {
  ackEvent,
  contactToArray,
  type InboundInput,
  inboundMessage,
  newKeyId,
  sentTextMessage,
  serializedMessageId,
  type StoredMessage,
} from './sim-messages';
import { mintToken, verifyToken } from './sim-tokens';

export type { FailMode } from './launch-failures';
export type { FaultKind, FaultSpec, FaultView } from './sim-faults';
export { engineRouteName } from './sim-faults';
export type { InboundInput, InboundType } from './sim-messages';

/**
 * A WPPConnect Server 2.10.4 simulator: the engine's HTTP API with its real shapes, status codes and quirks
 * (/work/shared/spec/wppconnect-engine.md, "the spec" below), plus a `/_sim` control surface that plays the
 * phone and the browser. Used by `npm run demo` and the end-to-end tests; production code never imports it.
 *
 * The model mirrors the server's `clientsArray[session]` entry: before login it is a *placeholder* object
 * (no isConnected/close), after the scan it is the library client. Most quirks fall out of that distinction.
 */

export interface SimulatorOptions {
  /** The engine's SECRET_KEY. @default 'THISISMYSECURETOKEN' */
  secretKey?: string;
  /** Time from start-session to the first QR. @default 1500 */
  qrDelayMs?: number;
  /** A new QR (new urlcode, new `qrcode` webhook) every this many ms while waiting for the scan. @default 20000 */
  qrRotateMs?: number;
  /** QR-phase autoclose, counted from the first QR. @default 120000 */
  autoCloseMs?: number;
  /**
   * Engine log file: what the real engine writes to stdout (the file WPPCONNECT_LOG_FILE points at), in its format
   * (sim/engine-log.ts): lifecycle lines, launch and navigation failures, unhandled rejections.
   */
  logFile?: string;
  /** @default '2.10.4' */
  version?: string;
  /** The server-wide WEBHOOK_URL, used when a session's config has no `webhook`. */
  webhookUrl?: string;
  /**
   * CUSTOM_USER_DATA_DIR; the profile of session `s` is `<userDataDir>/<s>`. Only log text in virtual mode; with
   * `browserProcesses` it must be an existing absolute directory and holds real profiles.
   * @default '/usr/src/wpp-server/userDataDir/'
   */
  userDataDir?: string;
  /** The phone number a scan logs in as. @default '5511999990000' */
  phone?: string;
  /**
   * Every browser the simulator launches is a real child process whose command line carries
   * `--user-data-dir=<profile>`, and the profile gets Chromium's `Singleton*` links. Launches check the profile like
   * Chromium + puppeteer 24 (a live browser on it, a lock from another host…). Linux only. @default false
   */
  browserProcesses?: boolean;
  /** The host name Chromium writes in `SingletonLock` (`<hostname>-<pid>`). @default os.hostname() */
  hostname?: string;
  /** CHROME_PATH: when set, a missing file fails every launch with ENOENT and a non-executable one with EACCES. */
  chromePath?: string;
  /** Initial value of the `waWebReachable` config key. @default true */
  waWebReachable?: boolean;
  /** Initial value of the `orphanBrowsersOnClose` config key. @default true */
  orphanBrowsersOnClose?: boolean;
}

export interface SimConfig {
  qrDelayMs: number;
  qrRotateMs: number;
  autoCloseMs: number;
  /** Sends never answer (a half-dead page waiting for an ack). Set back to false to drop the held requests. */
  hangSends: boolean;
  sendDelayMs: number;
  /** Digits that checkNumberStatus reports as not on WhatsApp. */
  unknownNumbers: string[];
  /** Every `/api/*` route hangs without answering (a wedged engine). Set back to false to drop held requests. */
  hangAll: boolean;
  /** Delay before each authenticated route runs; the real bcrypt compare costs ~80 ms. @default 0 */
  authDelayMs: number;
  /** Delay between a send's reply and its `onack` (ack 2) webhook. @default 300 */
  ackDelayMs: number;
  /**
   * Closing a pre-login session leaves its browser running (the real behaviour, spec §2.2, §7.3): the close answers
   * 500 and resets the entry, but the browser of that attempt keeps running and holding the profile, so every new
   * start of that session fails with "The browser is already running for …" until that browser ends. In QRCODE it
   * keeps posting QR webhooks (without `session`) until its autoclose; stuck on a failed navigation it runs forever.
   * Set to false to have close-session stop the browser instead. @default true
   */
  orphanBrowsersOnClose: boolean;
  /**
   * WhatsApp Web answers. When false, every launch that got a browser fails its navigation about 300 ms later
   * (`net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com`, untagged) and the session stays INITIALIZING
   * forever with its browser running: no QR, no webhook. @default true
   */
  waWebReachable: boolean;
}

type Status = 'INITIALIZING' | 'QRCODE' | 'CONNECTED' | 'CLOSED' | null;
type Browser = 'none' | 'running' | 'dead';

interface Client {
  name: string;
  status: Status;
  /** The `{status:null}` entry close-session leaves behind has no `session` field until the next login (§2.2). */
  hasSessionField: boolean;
  /** true once the library client replaced the placeholder (it has isConnected, close, send…). */
  loggedIn: boolean;
  browser: Browser;
  phoneOnline: boolean;
  /** The last start-session body; undefined on the reset entry (its webhooks then go to the global URL). */
  config: Record<string, unknown> | undefined;
  /** Never cleared once set: the source of the stale QR (§2.2). */
  urlcode?: string;
  qrAttempt: number;
  /** The last launch failed (sim/launch-failures.ts): no QR will come and no scan is possible. */
  launchFailed: boolean;
  /** Process mode: the real process of this entry's browser while it runs. */
  proc?: BrowserProc;
  /** The page loaded without WhatsApp Web: the library is still waiting for WPP (logs "wapi.js failed" later). */
  wapiPending: boolean;
  phone: string;
  /** Bumped whenever the entry stops running; callbacks scheduled for an older epoch do nothing. */
  epoch: number;
  timers: Set<NodeJS.Timeout>;
  /** start-session requests with waitQrCode:true waiting for the first QR. */
  waiters: Response[];
}

/** A real browser stand-in process (process mode). */
interface BrowserProc {
  child: ChildProcess;
  pid: number;
  profile: string;
  /** The entry this browser belongs to: the current one, or an orphan left behind by close-session. */
  owner: Client;
  /** The simulator ends it itself (close, autoclose, logout, dispose): the exit handler then does nothing. */
  closing: boolean;
  alive: boolean;
  exited: Promise<void>;
}

export interface BrowserView {
  session: string;
  pid: number;
  /** false for a browser no engine entry owns any more (an orphan of close-session). */
  attached: boolean;
}

export interface RecordedCall {
  method: string;
  /** The path with the secret key masked as `***`. */
  path: string;
  /** The request body; strings longer than 200 chars become `<first 48 chars>…[<length> chars]`. */
  body: unknown;
  at: number;
  /** The response status, once answered. */
  status?: number;
  /** The fault applied to this call (`control.fault`), if any. */
  fault?: FaultKind;
}

export interface RecordedWebhook {
  session: string;
  url: string;
  event: string;
  /** The payload, with long strings shortened like RecordedCall.body. */
  body: Record<string, unknown>;
  at: number;
  /** The receiver's HTTP status, or 0 when the POST failed. Undefined while in flight. */
  status?: number;
}

export interface SessionView {
  name: string;
  status: Status;
  loggedIn: boolean;
  browserAlive: boolean;
  browser: Browser;
  phoneOnline: boolean;
  urlcode: string | null;
  qrAttempt: number;
  phone: string;
  webhook: string | null;
  /** Process mode: the pid of the entry's running browser. */
  browserPid: number | null;
}

export interface SimulatorControl {
  /** The phone scans the QR: CONNECTED, webhooks status-find `qrReadSuccess` then `inChat`. */
  scan(session: string, phone?: string): Promise<void>;
  /** A message arrives: `onmessage` webhook; media is kept for get-media-by-message. */
  inbound(session: string, input?: InboundInput): Promise<{ id: string }>;
  /**
   * Chromium dies: `browserClose` webhook; a logged-in session stays CONNECTED (a zombie, spec §3.5). When the entry
   * has no running browser, the newest orphan browser of that session dies instead. In process mode the process is
   * SIGKILLed and the exit handler does the rest; the promise resolves once it has.
   */
  killBrowser(session: string): Promise<void>;
  /** The phone unlinks the device: `disconnectedMobile` (+ `browserClose`), the entry is dropped (CLOSED). */
  unlink(session: string): Promise<void>;
  /** Page alive, phone/WA socket offline (spec §3.5(3)): check-connection true, host-device 500, sends hang. */
  setPhoneOnline(session: string, online: boolean): void;
  /** The next start of that session (or of any session) fails the given way and stays INITIALIZING. */
  failNextStart(mode: FailMode, session?: string): void;
  /** A known LID ↔ phone mapping for contact/pn-lid. */
  mapLid(lid: string, phone: string): void;
  configure(patch: Partial<SimConfig>): SimConfig;
  calls(): RecordedCall[];
  clearCalls(): void;
  webhooks(): RecordedWebhook[];
  clearWebhooks(): void;
  /** Resolves once every webhook queued so far has been answered (or failed). */
  flushWebhooks(): Promise<void>;
  sessions(): SessionView[];
  /** Process mode: the live browser processes, attached or orphaned. Empty in virtual mode. */
  browsers(): BrowserView[];
  /** A valid engine token for the session (same as calling generate-token). */
  tokenFor(session: string): string;
  /**
   * Injects a fault on the engine API (sim/sim-faults.ts): requests selected by route name or path regex (and
   * optionally method, session and `times`) get `latency`, `hang`, `reset`, `status`, `html`, `truncate` or
   * `contentType`. The first matching spec applies. Throws on an invalid spec.
   */
  fault(spec: FaultSpec): FaultView;
  /** The active fault specs, with their hit counts. */
  faults(): FaultView[];
  /** Removes every fault (or the one with `id`); requests held by hang faults lose their connection. */
  clearFaults(id?: number): void;
  /**
   * The engine process restarted: every in-memory session is forgotten (status-session says CLOSED for all), its
   * browsers end without webhooks, held requests lose their connection, media is forgotten, uptime starts again. The
   * token store (show-all-sessions), SECRET_KEY and every token minted survive. Resolves once browser processes exit.
   */
  restartEngine(): Promise<void>;
  /**
   * SECRET_KEY changed: every token minted before is refused (401 "Check that the Session and Token are correct"),
   * generate-token and the secret routes with the old secret get their real 400. Sessions are kept (a real rotation
   * also restarts the engine: call restartEngine() too).
   */
  rotateSecret(newSecret: string): void;
}

const NOT_ACTIVE = { response: null, status: 'Disconnected', message: 'A sessão do WhatsApp não está ativa.' };
const CLOSE_ERROR = { status: false, message: 'Error closing session', error: { level: 'error' } };
const CLOSE_OK = { status: true, message: 'Session successfully closed' };
const SEND_ERROR = { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} };
const SESSION_NOT_ACTIVE = { status: 'error', message: 'The session is not active', error: { level: 'error' } };
/** The server's default `webhook.ignore` (spec §4). */
const WEBHOOK_IGNORE = ['status@broadcast'];
const DATA_URI_RE = /^data:[\w.+-]+\/[\w.+-]+(;[^,]*)?;base64,/i;
const LONG_STRING = 200;

function shorten(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value ?? {}, (_key, v: unknown) =>
      typeof v === 'string' && v.length > LONG_STRING ? `${v.slice(0, 48)}…[${v.length} chars]` : v,
    ),
  ) as unknown;
}

function randomUrlcode(): string {
  // A WhatsApp multi-device QR ref: "2@<ref>,<noise key>,<identity key>,<adv secret>".
  const part = (bytes: number) => crypto.randomBytes(bytes).toString('base64');
  return `2@${part(45)},${part(32)},${part(32)},${part(32)}`;
}

/** Renders each urlcode once per shape; the status routes are polled a lot. */
class QrRenderCache {
  private readonly entries = new Map<string, string | Buffer>();

  get<T extends string | Buffer>(key: string, render: () => T): T {
    let hit = this.entries.get(key);
    if (hit === undefined) {
      hit = render();
      this.entries.set(key, hit);
      if (this.entries.size > 64) this.entries.delete(this.entries.keys().next().value as string);
    }
    return hit as T;
  }
}

export function createSimulator(options: SimulatorOptions = {}): {
  app: Express;
  control: SimulatorControl;
  /**
   * Clears every timer, aborts webhooks in flight, drops held requests and SIGTERMs every browser process spawned
   * (for tests and close()).
   */
  dispose(): void;
} {
  let secretKey = options.secretKey ?? 'THISISMYSECURETOKEN';
  /** Every SECRET_KEY this engine had: masked in recorded call paths (a gateway may still send an old one). */
  const secretsSeen = new Set<string>([secretKey]);
  const version = options.version ?? '2.10.4';
  const userDataDir = options.userDataDir ?? '/usr/src/wpp-server/userDataDir/';
  /** CUSTOM_USER_DATA_DIR as the server concatenates it: `<dir>/` + session. */
  const userDataDirText = userDataDir.endsWith('/') ? userDataDir : `${userDataDir}/`;
  const processMode = options.browserProcesses === true;
  const hostname = options.hostname ?? os.hostname();
  if (processMode) {
    let isDir = false;
    try {
      isDir = fs.statSync(userDataDir).isDirectory();
    } catch {
      // reported below
    }
    if (!path.isAbsolute(userDataDir) || !isDir)
      throw new Error(`browserProcesses needs userDataDir to be an existing absolute directory, got ${userDataDir}`);
  }
  const defaultPhone = options.phone ?? '5511999990000';
  let startedAt = Date.now();
  const cfg: SimConfig = {
    qrDelayMs: options.qrDelayMs ?? 1500,
    qrRotateMs: options.qrRotateMs ?? 20_000,
    autoCloseMs: options.autoCloseMs ?? 120_000,
    hangSends: false,
    sendDelayMs: 0,
    unknownNumbers: [],
    hangAll: false,
    authDelayMs: 0,
    ackDelayMs: 300,
    orphanBrowsersOnClose: options.orphanBrowsersOnClose ?? true,
    waWebReachable: options.waWebReachable ?? true,
  };

  /** The server's in-memory `clientsArray`. */
  const clients = new Map<string, Client>();
  /** Pre-login entries replaced by close-session whose browser may still run (orphanBrowsersOnClose). */
  const orphans = new Map<string, Client[]>();
  /** The token store (`tokens/<s>.data.json`): last config per session; logout does not remove it. */
  const tokenStore = new Map<string, Record<string, unknown>>();
  /** Every message the simulated pages have seen, per session, for get-media-by-message. */
  const messages = new Map<string, Map<string, StoredMessage>>();
  const lids = new Map<string, string>();
  const failNext = new Map<string, FailMode>();
  const calls: RecordedCall[] = [];
  const sentWebhooks: RecordedWebhook[] = [];
  const held = new Set<Response>();
  const timers = new Set<NodeJS.Timeout>();
  const renders = new QrRenderCache();
  const aborter = new AbortController();
  /** Process mode: every browser process spawned and not yet exited. */
  const procs = new Set<BrowserProc>();
  const engineLog = new EngineLog(options.logFile);
  let disposed = false;
  const faultLayer = new FaultLayer({
    delay: (ms, fn) => schedule(null, ms, fn),
    noteFault: (res, kind) => {
      const call = res.locals.call as RecordedCall | undefined;
      if (call) call.fault = kind;
    },
  });

  // ---- plumbing ----------------------------------------------------------------------------------------------

  const schedule = (client: Client | null, ms: number, fn: () => void) => {
    if (disposed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      client?.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    timers.add(timer);
    client?.timers.add(timer);
  };

  const stopTimers = (client: Client) => {
    for (const timer of client.timers) {
      clearTimeout(timer);
      timers.delete(timer);
    }
    client.timers.clear();
    client.epoch++;
  };

  /** A library-logger line tagged `[<session>:<type>]` (no timestamp). */
  const tagged = (level: LogLevel, client: Client, type: string, message: string) =>
    engineLog.tagged(level, client.name, type, message);

  const hold = (res: Response) => {
    held.add(res);
    res.on('close', () => held.delete(res));
  };

  const releaseHeld = () => {
    // The engine never answers these; dropping the connection is what a restarted engine does to them.
    for (const res of held) if (!res.headersSent) res.destroy();
    held.clear();
  };

  // One delivery chain per session. The real server fires each webhook as its own POST, which can arrive out of
  // order; the simulator sends them in order so tests can assert the gateway keeps the order it received.
  const chains = new Map<string, Promise<void>>();

  /** `callWebHook` (spec §4): `{event, session, ...data}` to the session's webhook, no retry, errors swallowed. */
  const webhook = (client: Client, event: string, data: Record<string, unknown>) => {
    const configured = client.config?.webhook;
    const url = typeof configured === 'string' && configured ? configured : options.webhookUrl;
    if (!url || disposed) return;
    if (
      WEBHOOK_IGNORE.includes(event) ||
      WEBHOOK_IGNORE.includes(String(data.from)) ||
      WEBHOOK_IGNORE.includes(String(data.type))
    )
      return;
    // The reset entry has no `session` field, so JSON.stringify drops the key (spec §2.2).
    const payload = { event, session: client.hasSessionField ? client.name : undefined, ...data };
    const record: RecordedWebhook = {
      session: client.name,
      url,
      event,
      body: shorten(payload) as Record<string, unknown>,
      at: Date.now(),
    };
    sentWebhooks.push(record);
    const body = JSON.stringify(payload);
    const previous = chains.get(client.name) ?? Promise.resolve();
    const next = previous.then(() =>
      fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'User-Agent': 'axios/1.7.9' },
        body,
        // The real POST has no timeout; this one has a long one only so a hung receiver cannot wedge the chain.
        signal: AbortSignal.any([aborter.signal, AbortSignal.timeout(30_000)]),
      })
        .then(async (res) => {
          record.status = res.status;
          await res.arrayBuffer();
        })
        .catch(() => {
          record.status = 0;
        }),
    );
    chains.set(client.name, next);
  };

  /**
   * The server's statusFind handler (createSessionUtil.ts:106-128): webhook `status-find`, then
   * `logger.info(status + '\n\n')`, which is the untagged `info: <ISO> browserClose` line plus two blank lines.
   */
  const statusFind = (client: Client, status: string) => {
    webhook(client, 'status-find', { status });
    engineLog.server('info', `${status}\n\n`);
  };

  const newClient = (name: string, hasSessionField: boolean): Client => ({
    name,
    status: null,
    hasSessionField,
    loggedIn: false,
    browser: 'none',
    phoneOnline: true,
    config: undefined,
    qrAttempt: 0,
    launchFailed: false,
    wapiPending: false,
    phone: defaultPhone,
    epoch: 0,
    timers: new Set(),
    waiters: [],
  });

  const messagesOf = (name: string) => {
    let map = messages.get(name);
    if (!map) {
      map = new Map();
      messages.set(name, map);
    }
    return map;
  };

  // ---- the session state machine -----------------------------------------------------------------------------

  /** `getSessionState` (spec §2.2); null means "no answer" (waitQrCode on a session with no entry). */
  const stateReply = async (client: Client | undefined, waitQrCode: boolean) => {
    if ((!client || client.status === null) && !waitQrCode) return { status: 'CLOSED', qrcode: null };
    if (!client) return null;
    const urlcode = client.urlcode;
    // Re-rendered by the server from urlcode with the qrcode package's defaults (spec §2.2).
    const qrcode = urlcode ? renders.get(`d:${urlcode}`, () => qrDataUrl(urlcode)) : null;
    return { status: client.status, qrcode, ...(urlcode ? { urlcode } : {}), version };
  };

  /** `createSessionUtil`: a no-op unless the status is null or CLOSED (idempotent, race-safe). */
  const createSession = (name: string, config: Record<string, unknown>, waiter?: Response) => {
    let client = clients.get(name);
    if (!client) {
      client = newClient(name, true);
      clients.set(name, client);
    }
    if (client.status !== null && client.status !== 'CLOSED') return;
    client.status = 'INITIALIZING';
    client.config = config;
    tokenStore.set(name, config);
    if (waiter) {
      client.waiters.push(waiter);
      hold(waiter);
    }
    launch(client);
  };

  // ---- browsers ----------------------------------------------------------------------------------------------

  /** The profile folder as the server logs it (`Using browser folder '…'`) and as puppeteer resolves it. */
  const profileText = (name: string) => `${userDataDirText}${name}`;
  const profileOf = (name: string) => (processMode ? path.join(userDataDir, name) : path.resolve(profileText(name)));

  const orphansOf = (name: string) => orphans.get(name) ?? [];
  const forgetOrphan = (client: Client) => {
    const list = orphansOf(client.name).filter((o) => o !== client);
    if (list.length > 0) orphans.set(client.name, list);
    else orphans.delete(client.name);
  };
  const isOrphan = (client: Client) => orphansOf(client.name).includes(client);

  /**
   * A pre-login entry left behind with its browser still running: from now on its webhooks go through the reset
   * `{status:null}` entry, which has no `session` field (spec §2.2: `{"event":"status-find","status":"browserClose"}`).
   */
  const orphanize = (client: Client) => {
    client.hasSessionField = false;
    orphans.set(client.name, [...orphansOf(client.name), client]);
  };

  /** Process mode: start the browser stand-in for `client` on `profile`; false when the spawn itself failed. */
  const spawnFor = (client: Client, profile: string): boolean => {
    const child = spawnBrowser(profile);
    if (child.pid === undefined) {
      child.once('error', () => undefined);
      return false;
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
      procs.delete(proc);
      resolveExit();
      // Killed from outside (the gateway, a test, the OOM killer): puppeteer's `disconnected` event.
      if (!proc.closing && !disposed && proc.owner.proc === proc) browserDied(proc.owner);
    };
    child.once('exit', onExit);
    child.once('error', onExit);
    procs.add(proc);
    client.proc = proc;
    writeSingletonsSafe(profile, proc.pid);
    return true;
  };

  const writeSingletonsSafe = (profile: string, pid: number) => {
    try {
      writeSingletons(profile, hostname, pid);
    } catch {
      // The profile vanished under us (a test cleaning up); the process still runs.
    }
  };

  /**
   * The simulator ends a browser itself (close, autoclose, logout, dispose): SIGTERM, and no browserClose from the
   * exit handler (the caller sends what the real flow sends). Virtual mode: nothing to end.
   */
  const endBrowser = (client: Client) => {
    const proc = client.proc;
    client.proc = undefined;
    client.wapiPending = false;
    if (proc?.alive) {
      proc.closing = true;
      proc.child.kill('SIGTERM');
    }
  };

  /**
   * A browser died without the simulator closing it. The current entry's: `browserClose`; logged in, the session
   * stays CONNECTED (a zombie, spec §3.5(2)); before login create() rejects, the status stays where it was and no
   * more QRs come. An orphan's: forgotten, and its `browserClose` has no `session`.
   */
  const browserDied = (client: Client) => {
    const wasWaitingForWapi = client.wapiPending;
    client.wapiPending = false;
    client.proc = undefined;
    stopTimers(client);
    if (isOrphan(client)) {
      forgetOrphan(client);
      client.browser = 'none';
    } else {
      client.browser = client.loggedIn ? 'dead' : 'none';
    }
    statusFind(client, 'browserClose');
    if (wasWaitingForWapi) {
      // The library's waitForFunction for WPP dies with the page (the real log right after a SIGTERM).
      tagged('verbose', client, 'client', 'wapi.js failed');
      tagged('error', client, 'client', 'Error: waitForFunction failed: frame got detached.');
    }
  };

  // ---- the session state machine -----------------------------------------------------------------------------

  /** Time from a launch to the failed page.goto when WhatsApp Web is unreachable. */
  const NAVIGATION_FAIL_MS = 300;
  /** The library's wait for WPP after "Injecting wapi.js" (`waitForFunction`, 30 s). */
  const WAPI_TIMEOUT_MS = 30_000;

  const launch = (client: Client) => {
    stopTimers(client);
    client.loggedIn = false;
    client.qrAttempt = 0;
    client.launchFailed = false;
    client.wapiPending = false;
    if (client.browser === 'running') {
      // Relaunching an entry whose browser still runs (a pre-login "Session Unpaired" flip to CLOSED, then a start):
      // the old create() keeps its browser, which now holds the profile like an orphan does.
      if (cfg.orphanBrowsersOnClose) {
        const ghost: Client = { ...client, timers: new Set(), waiters: [] };
        if (ghost.proc) ghost.proc.owner = ghost;
        client.proc = undefined;
        orphanize(ghost);
      } else endBrowser(client);
    }
    client.browser = 'none';
    tagged('info', client, 'browser', `Using browser folder '${profileText(client.name)}'`);
    tagged('info', client, 'browser', 'Initializing browser...');
    // puppeteer's browser.close() resolves once the process exited: a start right after the simulator closed the
    // previous browser waits for that exit instead of finding it still alive in /proc.
    const profile = profileOf(client.name);
    const closing = [...procs].filter((p) => p.profile === profile && p.closing && p.alive);
    if (closing.length > 0) {
      const epoch = client.epoch;
      void Promise.all(closing.map((p) => p.exited)).then(() => {
        if (client.epoch === epoch && !disposed) launchBrowser(client, profile);
      });
      return;
    }
    launchBrowser(client, profile);
  };

  /** create() rejecting with a non-Timeout error: INITIALIZING forever, no webhook (spec §3.2, §5.2). */
  const launchRejected = (client: Client, error: ErrorForLog) => {
    client.launchFailed = true;
    client.browser = 'none';
    tagged('error', client, 'browser', 'Error no open browser');
    tagged('error', client, 'browser', error.message);
    engineLog.serverError(error);
  };

  const launchBrowser = (client: Client, profile: string) => {
    // 1. The executable (CHROME_PATH): spawn fails before Chromium ever looks at the profile.
    const chromePath = options.chromePath;
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
      if (code) {
        launchRejected(client, spawnError(chromePath, code));
        return;
      }
    }
    // 2. The profile: a live browser on it, or a lock from another computer.
    if (processMode) {
      try {
        fs.mkdirSync(profile, { recursive: true });
      } catch {
        // checkProfile and the spawn report what is wrong
      }
      const check = checkProfile(profile, hostname);
      if (check.kind === 'foreign-lock') {
        launchRejected(client, code21Error({ host: check.host, pid: check.pid }, randomPid()));
        return;
      }
      if (check.kind === 'in-use') {
        launchRejected(client, alreadyRunningError(profile));
        return;
      }
    } else if (orphansOf(client.name).some((o) => o.browser === 'running')) {
      launchRejected(client, alreadyRunningError(profile));
      return;
    }
    // 3. A forced failure (failNextStart).
    const mode: FailMode | undefined = failNext.get(client.name) ?? failNext.get('*');
    let failure: LaunchFailure | undefined;
    if (mode) {
      if (failNext.has(client.name)) failNext.delete(client.name);
      else failNext.delete('*');
      const lock = readLock(profile);
      failure = launchFailure(mode, profile, {
        lock: lock.kind === 'lock' ? { host: lock.host, pid: lock.pid } : undefined,
        chromePath,
      });
      if (failure.kind === 'launch') {
        launchRejected(client, failure.error);
        return;
      }
    }
    // 4. The browser runs.
    if (processMode && !spawnFor(client, profile)) {
      launchRejected(client, spawnError(process.execPath, 'EACCES'));
      return;
    }
    client.browser = 'running';
    tagged('http', client, 'browser', 'checking headless...');
    tagged('http', client, 'browser', 'headless option is active, browser hidden');
    tagged('info', client, 'client', 'Initializing...');
    tagged('verbose', client, 'client', 'Setting WhatsApp WEB version to 2.3000.10305x');
    // Logged at error level on every start of the real engine (the pinned version is gone); not a failure.
    tagged('error', client, 'client', 'Version not available for 2.3000.10305x, using latest as fallback');
    tagged('verbose', client, 'client', 'Loading WhatsApp WEB');
    const epoch = client.epoch;
    if (failure?.kind === 'navigation' || (!failure && !cfg.waWebReachable)) {
      const error = failure?.kind === 'navigation' ? failure.error : navigationError();
      client.launchFailed = true;
      schedule(client, NAVIGATION_FAIL_MS, () => navigationFailed(client, epoch, error));
      return;
    }
    if (failure?.kind === 'stuck') {
      client.launchFailed = true;
      schedule(client, cfg.qrDelayMs, () => {
        if (client.epoch !== epoch || client.browser !== 'running') return;
        pageLoaded(client);
      });
      return;
    }
    schedule(client, cfg.qrDelayMs, () => {
      if (client.epoch !== epoch || client.browser !== 'running') return;
      pageLoaded(client);
      client.wapiPending = false;
      tagged('verbose', client, 'client', 'wapi.js injected');
      tagged('http', client, 'client', 'Checking is logged...');
      tagged('info', client, 'client', `Auto close configured to ${Math.round(cfg.autoCloseMs / 1000)}s`);
      tagged('http', client, 'client', 'Waiting for QRCode Scan...');
      emitQr(client, epoch);
    });
  };

  const pageLoaded = (client: Client) => {
    tagged('verbose', client, 'page', 'Page loaded');
    tagged('verbose', client, 'client', 'Injecting wapi.js');
    client.wapiPending = true;
  };

  /**
   * page.goto failed (spec §7.3): one untagged server entry, the page still "loads" (about:blank), the library
   * injects and waits 30 s for WPP in vain. The browser keeps running and holding the profile; status INITIALIZING.
   */
  const navigationFailed = (client: Client, epoch: number, error: ErrorForLog) => {
    if (client.epoch !== epoch || client.browser !== 'running') return;
    engineLog.serverError(error);
    pageLoaded(client);
    schedule(client, WAPI_TIMEOUT_MS, () => {
      if (client.epoch !== epoch || !client.wapiPending) return;
      client.wapiPending = false;
      tagged('verbose', client, 'client', 'wapi.js failed');
      tagged('error', client, 'client', 'TimeoutError: Waiting failed: 30000ms exceeded');
    });
  };

  /** `catchQR` → `exportQR`: status QRCODE, new urlcode, webhook `qrcode`, and the held waitQrCode reply. */
  const emitQr = (client: Client, epoch: number) => {
    if (client.epoch !== epoch || client.loggedIn || client.browser !== 'running') return;
    const urlcode = randomUrlcode();
    // The library hands over WhatsApp Web's own 264 px canvas image, not the server's re-render (§2.2, §4), so
    // the webhook's bytes differ from status-session's for the same urlcode.
    const qrcode = qrPng(urlcode, { width: 264, margin: 1 }).toString('base64');
    client.status = 'QRCODE';
    client.urlcode = urlcode;
    client.qrAttempt++;
    tagged('verbose', client, 'client', `Waiting for QRCode Scan: Attempt ${client.qrAttempt}`);
    webhook(client, 'qrcode', { qrcode, urlcode });
    for (const res of client.waiters.splice(0)) {
      if (!res.headersSent) res.json({ status: 'qrcode', qrcode, urlcode, session: client.name });
    }
    if (client.qrAttempt === 1) schedule(client, cfg.autoCloseMs, () => autoClose(client, epoch));
    schedule(client, cfg.qrRotateMs, () => emitQr(client, epoch));
  };

  /**
   * QR-phase autoclose (spec §3.3): CLOSED with the urlcode kept (stale QR). `autocloseCalled` never reaches the
   * webhook because the handler throws on the placeholder first; the scan loop's `qrReadError` and the browser's
   * `browserClose` do.
   */
  const autoClose = (client: Client, epoch: number) => {
    if (client.epoch !== epoch || client.loggedIn) return;
    stopTimers(client);
    client.status = 'CLOSED';
    tagged('info', client, 'client', 'Closing the page');
    tagged('verbose', client, 'page', 'Page Closed');
    endBrowser(client);
    client.browser = 'none';
    if (isOrphan(client)) forgetOrphan(client);
    tagged('warn', client, 'client', 'Failed to authenticate');
    statusFind(client, 'qrReadError');
    statusFind(client, 'browserClose');
    tagged('error', client, 'client', 'Auto Close Called');
  };

  const login = (client: Client, phone: string | undefined) => {
    const restored = client.status === 'INITIALIZING';
    stopTimers(client);
    client.loggedIn = true;
    client.wapiPending = false;
    // Object.assign(wppClient, placeholder): the library client always carries `session`.
    client.hasSessionField = true;
    client.browser = 'running';
    client.phoneOnline = true;
    client.status = 'CONNECTED';
    if (phone) client.phone = phone.replace(/\D/g, '');
    // There is no CONNECTED webhook; status-find is what the server forwards (spec §4).
    if (restored) tagged('http', client, 'client', 'Authenticated');
    else {
      tagged('http', client, 'client', 'Checking QRCode status...');
      tagged('http', client, 'client', 'Login with success');
    }
    statusFind(client, restored ? 'isLogged' : 'qrReadSuccess');
    tagged('http', client, 'client', 'Checking phone is connected...');
    tagged('http', client, 'client', 'Connected');
    statusFind(client, 'inChat');
    engineLog.server('info', `Started Session: ${client.name}`);
  };

  // ---- HTTP: global middleware -------------------------------------------------------------------------------

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '50mb' }));
  app.use(express.urlencoded({ limit: '50mb', extended: true }));

  app.use((req, res, next) => {
    if (!req.path.startsWith('/_sim')) {
      let masked = req.path;
      for (const secret of secretsSeen) if (secret) masked = masked.split(secret).join('***');
      const call: RecordedCall = {
        method: req.method,
        path: masked,
        body: shorten(req.body),
        at: Date.now(),
      };
      calls.push(call);
      res.locals.call = call;
      res.on('finish', () => {
        call.status = res.statusCode;
      });
    }
    // The server wraps res.send: when the request says exactly `Content-Type: application/json`, a JSON reply
    // without a truthy `session` gets `req.client ? req.client.session : ''` (spec §2.0).
    if (req.get('content-type') === 'application/json' && !req.path.startsWith('/_sim')) {
      const json = res.json.bind(res);
      res.json = (body: unknown) => {
        if (body && typeof body === 'object' && !Array.isArray(body) && !(body as { session?: unknown }).session) {
          const client = res.locals.client as Client | undefined;
          const session = client ? (client.hasSessionField ? client.name : undefined) : '';
          return json({ ...(body as object), session });
        }
        return json(body);
      };
    }
    if (cfg.hangAll && req.path.startsWith('/api/')) {
      hold(res);
      return;
    }
    next();
  });

  // The fault layer (control.fault): after the call is recorded, before any engine route runs.
  app.use(faultLayer.middleware());

  app.get('/healthz', (req, res) => {
    if (req.get('content-type') === 'application/json') {
      // healthz hands res.send an object; the wrapper JSON.parses it because of the header, the parse throws inside
      // an async handler and no reply is ever written (spec §7.3). Held until dispose (or hangAll is cleared).
      engineLog.library(
        'error',
        `Unhandled Rejection: SyntaxError: "[object Object]" is not valid JSON\n${HEALTHZ_REJECTION_FRAMES.join('\n')}`,
      );
      hold(res);
      return;
    }
    res.json({ uptime: (Date.now() - startedAt) / 1000, message: 'OK', timestamp: Date.now() });
  });

  // ---- HTTP: routes keyed by the secret ----------------------------------------------------------------------

  app.post('/api/:session/:secretkey/generate-token', (req, res) => {
    if (req.params.secretkey !== secretKey) {
      res.status(400).json({ response: false, message: 'The SECRET_KEY is incorrect' });
      return;
    }
    const session = String(req.params.session);
    const token = mintToken(session, secretKey);
    res.status(201).json({ status: 'success', session, token, full: `${session}:${token}` });
  });

  app.get('/api/:secretkey/show-all-sessions', (req, res) => {
    if (req.params.secretkey !== secretKey) {
      res.status(400).json({ response: false, message: 'The token is incorrect' });
      return;
    }
    // The token store's file names, not the sessions in memory, and no status (spec §2.2).
    res.json({ response: [...tokenStore.keys()] });
  });

  app.post('/api/:secretkey/start-all', (req, res) => {
    if (req.params.secretkey !== secretKey) {
      res.status(400).json({ response: 'error', message: 'The token is incorrect' });
    } else {
      res.status(201).json({ status: 'success', message: 'Starting all sessions' });
    }
    // The `return` is missing after the 400, so a wrong secret still starts everything (spec §2.2). Each start
    // gets an empty body, so the config comes back from the token store.
    for (const [name, config] of tokenStore) createSession(name, config);
  });

  // ---- HTTP: session routes ----------------------------------------------------------------------------------

  /** verifyToken (spec §1.2): `Authorization: Bearer <token>`, or `/api/<session>:<token>/…`. */
  const auth = (req: Request, res: Response, next: NextFunction) => {
    const raw = String(req.params.session ?? '');
    const [name, pathToken] = raw.split(':');
    let token = pathToken;
    if (token === undefined) {
      // The server takes the second space-separated word, whatever the first one is.
      token = String(req.headers.authorization ?? '').split(' ')[1];
      if (!token) {
        res.status(401).json({ message: 'Token is not present. Check your header and try again' });
        return;
      }
    }
    if (!verifyToken(name, secretKey, token)) {
      res.status(401).json({ error: 'Check that the Session and Token are correct' });
      return;
    }
    res.locals.name = name;
    res.locals.client = clients.get(name);
    if (cfg.authDelayMs > 0) setTimeout(next, cfg.authDelayMs).unref();
    else next();
  };

  const nameOf = (res: Response) => String(res.locals.name);
  const clientOf = (res: Response) => res.locals.client as Client | undefined;
  const bodyOf = (req: Request) =>
    (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;

  /** statusConnection (spec §2.1): needs the library client and a live page; checks every number in `phone`. */
  const statusConnection = (req: Request, res: Response, next: NextFunction) => {
    const client = clientOf(res);
    if (!client?.loggedIn || client.browser !== 'running') {
      res.status(404).json(NOT_ACTIVE);
      return;
    }
    const body = bodyOf(req);
    const flags = { isGroup: body.isGroup, isNewsletter: body.isNewsletter, isLid: body.isLid };
    const phones = contactToArray(body.phone ?? [], flags);
    for (const contact of phones) {
      if (flags.isGroup || flags.isNewsletter || contact.includes('@lid')) continue;
      const digits = contact.split('@')[0];
      if (cfg.unknownNumbers.includes(digits)) {
        res.status(400).json({ response: null, status: 'Connected', message: `O número ${digits} não existe.` });
        return;
      }
    }
    req.body = { ...body, phone: phones };
    next();
  };

  app.post('/api/:session/start-session', auth, async (req, res) => {
    const name = nameOf(res);
    const body = bodyOf(req);
    const waitQrCode = body.waitQrCode === true;
    // getSessionState answers first, from the state before this start; then createSessionUtil runs.
    const reply = await stateReply(clients.get(name), waitQrCode);
    createSession(name, body, reply ? undefined : res);
    if (reply) res.json(reply);
    // else: held until the first QR, or forever if the launch fails (spec §2.2).
  });

  app.get('/api/:session/status-session', auth, async (_req, res) => {
    res.json(await stateReply(clients.get(nameOf(res)), false));
  });

  app.get('/api/:session/qrcode-session', auth, (_req, res) => {
    const client = clients.get(nameOf(res));
    if (client?.urlcode) {
      // Whatever the status: stale after CONNECTED or CLOSED (spec §2.2).
      const urlcode = client.urlcode;
      const png = renders.get(`p:${urlcode}`, () => qrPng(urlcode, { width: 500, errorCorrectionLevel: 'M' }));
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': png.length });
      res.end(png);
      return;
    }
    if (!client) {
      res.json({
        status: null,
        message: 'Session not started. Please, use the /start-session route, for initialization your session',
      });
      return;
    }
    res.json({ status: client.status, message: 'QRCode is not available...' });
  });

  app.get('/api/:session/check-connection-session', auth, (_req, res) => {
    // isConnected() only throws for a placeholder or a dead page; its boolean result is ignored (spec §2.2).
    const client = clients.get(nameOf(res));
    if (client?.loggedIn && client.browser === 'running') res.json({ status: true, message: 'Connected' });
    else res.json({ status: false, message: 'Disconnected' });
  });

  app.get('/api/:session/host-device', auth, statusConnection, (_req, res) => {
    const client = clientOf(res) as Client;
    if (!client.phoneOnline) {
      res.status(500).json({ status: 'error', message: 'Erro ao recuperar dados do telefone', error: {} });
      return;
    }
    const wid = `${client.phone}@c.us`;
    res.json({
      status: 'success',
      response: {
        id: { server: 'c.us', user: client.phone, _serialized: wid },
        pushname: 'Simulated Phone',
        platform: 'android',
        isBusiness: false,
        phoneNumber: wid,
      },
      mapper: 'device',
    });
  });

  app.post('/api/:session/close-session', auth, (_req, res) => {
    const name = nameOf(res);
    const client = clients.get(name);
    if (!client) {
      engineLog.serverError({
        name: 'TypeError',
        message: "Cannot read properties of undefined (reading 'status')",
        frames: CLOSE_TYPEERROR_FRAMES,
      });
      res.status(500).json(CLOSE_ERROR);
      return;
    }
    if (client.status === null) {
      res.json(CLOSE_OK);
      return;
    }
    // The entry is replaced by `{status:null}` (no session, no config) before close() is even tried.
    clients.set(name, newClient(name, false));
    if (!client.loggedIn) {
      // The placeholder has no close(): TypeError → 500, but the reset already happened. The browser of that
      // attempt is not closed: it keeps running and holding the profile (spec §7.3).
      engineLog.serverError({
        name: 'TypeError',
        message: 'req.client.close is not a function',
        frames: CLOSE_TYPEERROR_FRAMES,
      });
      if (cfg.orphanBrowsersOnClose && client.browser === 'running') orphanize(client);
      else {
        stopTimers(client);
        endBrowser(client);
        client.browser = 'none';
      }
      res.status(500).json(CLOSE_ERROR);
      return;
    }
    stopTimers(client);
    // close() closes page and browser; puppeteer's `disconnected` event becomes status-find browserClose.
    const wasRunning = client.browser === 'running';
    endBrowser(client);
    client.browser = 'none';
    if (wasRunning) statusFind(client, 'browserClose');
    client.status = null;
    webhook(client, 'closesession', { message: `Session: ${name} disconnected`, connected: false });
    res.json(CLOSE_OK);
  });

  app.post('/api/:session/logout-session', auth, statusConnection, (_req, res) => {
    const name = nameOf(res);
    const client = clientOf(res) as Client;
    stopTimers(client);
    clients.delete(name);
    // The token file survives (wrong path in the server), so show-all-sessions and start-all keep it (§2.2).
    hold(res);
    schedule(null, 500, () => {
      held.delete(res);
      // The server deletes userDataDir/<session> (the browser still runs on it).
      if (processMode) fs.rmSync(profileOf(name), { recursive: true, force: true });
      webhook(client, 'logoutsession', { message: `Session: ${name} logged out`, connected: false });
      if (!res.headersSent) res.json(CLOSE_OK);
    });
    // The browser is left open, but the library's 1 s isRegistered poll then sees the logout: disconnectedMobile,
    // client.close() and so browserClose (spec §3.1). The entry is already gone, so nothing else changes.
    schedule(null, 1500, () => {
      tagged('info', client, 'client', 'Session Unpaired');
      statusFind(client, 'disconnectedMobile');
      const wasRunning = client.browser === 'running';
      endBrowser(client);
      client.browser = 'none';
      if (wasRunning) statusFind(client, 'browserClose');
    });
  });

  type SendKind = 'text' | 'file' | 'voice-base64' | 'voice-path';

  const sendHandler = (kind: SendKind) => (req: Request, res: Response) => {
    const client = clientOf(res) as Client;
    const body = bodyOf(req);
    const phones = Array.isArray(body.phone) ? (body.phone as string[]) : [];
    const isHttpPath = typeof body.path === 'string' && /^https?:\/\//i.test(body.path);
    let mimetype: string | undefined;
    let base64: string | undefined;
    if (kind === 'file') {
      if (body.base64 === undefined && body.path === undefined) {
        res.status(401).json({ message: 'Sending the file is mandatory' });
        return;
      }
      // A bare base64 string is taken for a path and fails with "Empty or invalid file or base64" (spec §2.3).
      const data = typeof body.base64 === 'string' ? body.base64 : null;
      if (data !== null ? !DATA_URI_RE.test(data) : !isHttpPath) {
        res.status(500).json(SEND_ERROR);
        return;
      }
      if (data) {
        mimetype = data.slice(5, data.indexOf(';'));
        base64 = data.slice(data.indexOf(',') + 1);
      }
    } else if (kind === 'voice-base64') {
      const data = typeof body.base64Ptt === 'string' ? body.base64Ptt : '';
      if (!DATA_URI_RE.test(data)) {
        res.status(500).json(SEND_ERROR);
        return;
      }
      mimetype = data.slice(5, data.indexOf(';'));
      base64 = data.slice(data.indexOf(',') + 1);
    } else if (kind === 'voice-path' && !isHttpPath) {
      res.status(500).json(SEND_ERROR);
      return;
    }
    if (phones.length === 0) {
      res.status(400).json('Error sending message');
      return;
    }
    if (cfg.hangSends || !client.phoneOnline) {
      // Each send waits for the ack inside the page with no server-side timeout (spec §2.3).
      hold(res);
      return;
    }
    const epoch = client.epoch;
    const answer = () => {
      if (res.headersSent || client.epoch !== epoch) return;
      const me = `${client.phone}@c.us`;
      const store = messagesOf(client.name);
      const response = phones.map((to) => {
        if (kind === 'text') {
          const message = sentTextMessage(me, to, String(body.message ?? ''));
          store.set(String(message.id), { id: String(message.id), type: 'chat' });
          return message;
        }
        const id = serializedMessageId(true, to, newKeyId());
        const type = kind === 'file' ? 'document' : 'ptt';
        store.set(id, { id, type, mimetype: mimetype ?? 'application/octet-stream', base64: base64 ?? '' });
        return { ack: 1, id };
      });
      res.status(201).json({ status: 'success', response, mapper: 'return' });
      for (const item of response) {
        const id = String(item.id);
        schedule(client, cfg.ackDelayMs, () => {
          if (client.epoch === epoch) webhook(client, 'onack', ackEvent(id, 2, me));
        });
      }
    };
    if (cfg.sendDelayMs > 0) {
      hold(res);
      schedule(client, cfg.sendDelayMs, answer);
    } else answer();
  };

  app.post('/api/:session/send-message', auth, statusConnection, sendHandler('text'));
  for (const route of ['send-image', 'send-file', 'send-file-base64'])
    app.post(`/api/:session/${route}`, auth, statusConnection, sendHandler('file'));
  app.post('/api/:session/send-voice-base64', auth, statusConnection, sendHandler('voice-base64'));
  app.post('/api/:session/send-voice', auth, statusConnection, sendHandler('voice-path'));

  const mediaReply = (res: Response, name: string, messageId: string) => {
    const message = messagesOf(name).get(messageId);
    if (!message) {
      res.status(400).json({ status: 'error', message: 'Message not found' });
      return;
    }
    if (!message.mimetype) {
      res.status(400).json({ status: 'error', message: 'Message does not contain media' });
      return;
    }
    res.json({ base64: message.base64 ?? '', mimetype: message.mimetype });
  };

  // No statusConnection here: anything but a live library client throws, and the catch says 500 (spec §2.3).
  app.get('/api/:session/get-media-by-message/:messageId', auth, (req, res) => {
    const client = clientOf(res);
    if (!client?.loggedIn || client.browser !== 'running') {
      res.status(500).json(SESSION_NOT_ACTIVE);
      return;
    }
    mediaReply(res, client.name, String(req.params.messageId));
  });

  app.post('/api/:session/download-media', auth, statusConnection, (req, res) => {
    const messageId = bodyOf(req).messageId;
    const id = typeof messageId === 'object' && messageId ? (messageId as { id?: unknown }).id : messageId;
    mediaReply(res, nameOf(res), String(id ?? ''));
  });

  /**
   * contact/pn-lid (contactController + WA-JS getPnLidEntry): 200 with the raw entry. An id ending in `@lid` is
   * looked up as a LID; anything that is only digits becomes `<digits>@c.us` (WA-JS createWid), so a bare LID
   * number comes back as a *phone* entry. Unknown mappings give 200 with only the side that was asked. Groups and
   * other servers throw → 500 "Error on get contact by PN-LID".
   */
  app.get('/api/:session/contact/pn-lid/:pnLid', auth, statusConnection, (req, res) => {
    const raw = String(req.params.pnLid).trim();
    const [user, server = 'c.us'] = raw.split('@');
    const phoneWid = (phone: string) => ({ server: 'c.us', user: phone, _serialized: `${phone}@c.us` });
    if (/^\w*lid$/.test(server) && user) {
      const phone = lids.get(user);
      res.json({ lid: `${user}@lid`, ...(phone ? { phoneNumber: phoneWid(phone) } : {}) });
      return;
    }
    if ((server === 'c.us' || server === 's.whatsapp.net') && /^\d+$/.test(user)) {
      const lid = [...lids].find(([, phone]) => phone === user)?.[0];
      res.json({ ...(lid ? { lid: `${lid}@lid` } : {}), phoneNumber: phoneWid(user) });
      return;
    }
    res.status(500).json({ status: 'error', message: 'Error on get contact by PN-LID', error: {} });
  });

  // ---- control -----------------------------------------------------------------------------------------------

  const need = (name: string) => {
    const client = clients.get(name);
    if (!client) throw new Error(`session ${name} has no engine entry`);
    return client;
  };

  const control: SimulatorControl = {
    async scan(name, phone) {
      const client = need(name);
      // INITIALIZING counts as a restored login (the profile still holds one): isLogged instead of a scan.
      const waiting = client.status === 'QRCODE' || client.status === 'INITIALIZING';
      if (!waiting || client.browser !== 'running' || client.launchFailed)
        throw new Error(`session ${name} is not waiting for a scan (status ${client.status})`);
      login(client, phone);
    },
    async inbound(name, input = {}) {
      const client = need(name);
      if (!client.loggedIn || client.browser !== 'running') throw new Error(`session ${name} is not connected`);
      const { message, stored } = inboundMessage(`${client.phone}@c.us`, input);
      messagesOf(name).set(stored.id, stored);
      webhook(client, 'onmessage', message);
      return { id: stored.id };
    },
    async killBrowser(name) {
      const client = clients.get(name);
      const target =
        client?.browser === 'running'
          ? client
          : [...orphansOf(name)].reverse().find((orphan) => orphan.browser === 'running');
      if (!target) {
        if (!client && orphansOf(name).length === 0) throw new Error(`session ${name} has no engine entry`);
        throw new Error(`session ${name} has no browser running`);
      }
      const proc = target.proc;
      if (proc?.alive) {
        // The exit handler sends browserClose and applies the state effects, as for any external kill.
        proc.child.kill('SIGKILL');
        await proc.exited;
        return;
      }
      browserDied(target);
    },
    async unlink(name) {
      const client = need(name);
      tagged('info', client, 'client', 'Session Unpaired');
      if (!client.loggedIn) {
        // Before login the handler throws on the placeholder: CLOSED, no webhook, and the QR loop carries on (the
        // startup "INITIALIZING -> CLOSED" flip of issue #2083, spec §3.2).
        client.status = 'CLOSED';
        return;
      }
      stopTimers(client);
      client.status = 'CLOSED';
      clients.delete(name);
      statusFind(client, 'disconnectedMobile');
      const wasRunning = client.browser === 'running';
      endBrowser(client);
      client.browser = 'none';
      if (wasRunning) statusFind(client, 'browserClose');
    },
    setPhoneOnline(name, online) {
      const client = need(name);
      client.phoneOnline = online;
      if (online) releaseHeld();
    },
    failNextStart(mode, name) {
      failNext.set(name ?? '*', mode);
    },
    mapLid(lid, phone) {
      lids.set(lid.split('@')[0], phone.split('@')[0].replace(/\D/g, ''));
    },
    configure(patch) {
      const releasing = (patch.hangAll === false && cfg.hangAll) || (patch.hangSends === false && cfg.hangSends);
      for (const key of Object.keys(cfg) as Array<keyof SimConfig>) {
        if (patch[key] !== undefined) (cfg as unknown as Record<string, unknown>)[key] = patch[key];
      }
      if (releasing) releaseHeld();
      return { ...cfg };
    },
    calls: () => calls.map((c) => ({ ...c })),
    clearCalls: () => {
      calls.length = 0;
    },
    webhooks: () => sentWebhooks.map((w) => ({ ...w })),
    clearWebhooks: () => {
      sentWebhooks.length = 0;
    },
    flushWebhooks: async () => {
      await Promise.all([...chains.values()]);
    },
    sessions: () =>
      [...clients.values()].map((c) => ({
        name: c.name,
        status: c.status,
        loggedIn: c.loggedIn,
        browserAlive: c.browser === 'running',
        browser: c.browser,
        phoneOnline: c.phoneOnline,
        urlcode: c.urlcode ?? null,
        qrAttempt: c.qrAttempt,
        phone: c.phone,
        webhook: typeof c.config?.webhook === 'string' ? c.config.webhook : null,
        browserPid: c.proc?.alive ? c.proc.pid : null,
      })),
    browsers: () =>
      [...procs]
        .filter((p) => p.alive)
        .map((p) => ({ session: p.owner.name, pid: p.pid, attached: clients.get(p.owner.name) === p.owner })),
    tokenFor: (name) => mintToken(name, secretKey),
    fault: (spec) => faultLayer.add(spec),
    faults: () => faultLayer.list(),
    clearFaults: (id) => faultLayer.clear(id),
    async restartEngine() {
      // The process dies: its timers, its browsers (puppeteer closes them on SIGTERM, no webhook), its connections.
      const ending: Array<Promise<void>> = [];
      const stop = (client: Client) => {
        stopTimers(client);
        for (const res of client.waiters.splice(0)) if (!res.headersSent) res.destroy();
        const proc = client.proc;
        if (proc?.alive) ending.push(proc.exited);
        endBrowser(client);
        client.browser = 'none';
      };
      for (const client of clients.values()) stop(client);
      for (const list of orphans.values()) for (const orphan of list) stop(orphan);
      // Nothing the old process scheduled happens any more (a logout's late webhooks, delayed requests).
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      clients.clear();
      orphans.clear();
      messages.clear();
      releaseHeld();
      faultLayer.drop();
      startedAt = Date.now();
      engineLog.server('info', 'Server is running on port: 21465');
      await Promise.all(ending);
    },
    rotateSecret(newSecret) {
      if (typeof newSecret !== 'string' || !newSecret) throw new Error('the new secret must be a non-empty string');
      secretKey = newSecret;
      secretsSeen.add(newSecret);
    },
  };

  const ctl = (fn: (req: Request) => unknown) => async (req: Request, res: Response) => {
    try {
      res.json((await fn(req)) ?? { ok: true });
    } catch (error) {
      res.status(409).json({ ok: false, error: (error as Error).message });
    }
  };
  const param = (req: Request) => String(req.params.session);

  app.post(
    '/_sim/sessions/:session/scan',
    ctl((req) => control.scan(param(req), bodyOf(req).phone as string | undefined)),
  );
  app.post(
    '/_sim/sessions/:session/inbound',
    ctl((req) => control.inbound(param(req), bodyOf(req) as InboundInput)),
  );
  app.post(
    '/_sim/sessions/:session/kill-browser',
    ctl((req) => control.killBrowser(param(req))),
  );
  app.post(
    '/_sim/sessions/:session/unlink',
    ctl((req) => control.unlink(param(req))),
  );
  app.post(
    '/_sim/sessions/:session/phone-offline',
    ctl((req) => control.setPhoneOnline(param(req), false)),
  );
  app.post(
    '/_sim/sessions/:session/phone-online',
    ctl((req) => control.setPhoneOnline(param(req), true)),
  );
  app.post('/_sim/fail-next-start', (req, res) => {
    const { mode = 'stuck', session } = bodyOf(req);
    if (!isFailMode(mode)) {
      res.status(400).json({ ok: false, error: `unknown mode ${String(mode)}` });
      return;
    }
    control.failNextStart(mode, typeof session === 'string' ? session : undefined);
    res.json({ ok: true });
  });
  app.post(
    '/_sim/lids',
    ctl((req) => control.mapLid(String(bodyOf(req).lid), String(bodyOf(req).phone))),
  );
  app.patch(
    '/_sim/config',
    ctl((req) => control.configure(bodyOf(req) as Partial<SimConfig>)),
  );
  app.get(
    '/_sim/calls',
    ctl(() => control.calls()),
  );
  app.delete(
    '/_sim/calls',
    ctl(() => control.clearCalls()),
  );
  app.get(
    '/_sim/webhooks',
    ctl(() => control.webhooks()),
  );
  app.delete(
    '/_sim/webhooks',
    ctl(() => control.clearWebhooks()),
  );
  app.get(
    '/_sim/sessions',
    ctl(() => control.sessions()),
  );
  app.get(
    '/_sim/browsers',
    ctl(() => control.browsers()),
  );
  app.post('/_sim/faults', (req, res) => {
    try {
      res.json({ ok: true, fault: control.fault(bodyOf(req) as FaultSpec) });
    } catch (error) {
      res.status(400).json({ ok: false, error: (error as Error).message });
    }
  });
  app.get(
    '/_sim/faults',
    ctl(() => control.faults()),
  );
  app.delete(
    '/_sim/faults',
    ctl(() => control.clearFaults()),
  );
  app.delete(
    '/_sim/faults/:id',
    ctl((req) => control.clearFaults(Number(req.params.id))),
  );
  app.post(
    '/_sim/restart-engine',
    ctl(() => control.restartEngine()),
  );
  app.post('/_sim/rotate-secret', (req, res) => {
    const secret = bodyOf(req).secret;
    if (typeof secret !== 'string' || !secret) {
      res.status(400).json({ ok: false, error: 'secret must be a non-empty string' });
      return;
    }
    control.rotateSecret(secret);
    res.json({ ok: true });
  });

  // Unknown routes fall through to Express's own 404: text/html "Cannot GET /path", as on the real server.

  return {
    app,
    control,
    dispose() {
      disposed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const client of clients.values()) client.epoch++;
      for (const list of orphans.values()) for (const orphan of list) orphan.epoch++;
      // Every browser process spawned ends with the simulator (as puppeteer closes its browsers on SIGTERM).
      for (const proc of procs) {
        proc.closing = true;
        try {
          proc.child.kill('SIGTERM');
        } catch {
          // already gone
        }
      }
      aborter.abort();
      releaseHeld();
      faultLayer.drop();
    },
  };
}

export async function startSimulator(
  options: SimulatorOptions & { port?: number; host?: string } = {},
): Promise<{ url: string; control: SimulatorControl; close(): Promise<void> }> {
  const sim = createSimulator(options);
  const host = options.host ?? '127.0.0.1';
  const server: Server = sim.app.listen(options.port ?? 0, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    control: sim.control,
    close: async () => {
      const closed = new Promise<void>((resolve) => {
        sim.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // Process mode: wait (briefly) until every browser process has exited.
      const until = Date.now() + 3000;
      while (sim.control.browsers().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await closed;
    },
  };
}

import crypto from 'node:crypto';
import type { Response } from 'express';
import { type BrowserView, Browsers } from './engine-browsers';
import { initialConfig, type SimConfig, type SimulatorOptions } from './engine-config';
import { type Browser, type Client, newClient, type Status } from './engine-entry';
import { EngineLog, type ErrorForLog, type LogLevel } from './engine-log';
import { type RecordedWebhook, WebhookSender } from './engine-webhooks';
import { type FailMode, navigationError } from './launch-failures';
import { qrPng } from './qr-png';
import {
  ackEvent,
  type InboundInput,
  inboundMessage,
  newKeyId,
  sentTextMessage,
  serializedMessageId,
  type StoredMessage,
} from './sim-messages';
import { mintToken } from './sim-tokens';

/**
 * The engine model: what a WPPConnect Server 2.10.4 process holds in memory and does on its own, with no HTTP
 * routing in it. The `clientsArray` entries (sim/engine-entry.ts) and their state machine (launch → QR → login /
 * autoclose / close / logout), the token store, the messages the pages have seen, the log it writes, and what the
 * phone and the browser do to it. Browsers and their launch checks are in sim/engine-browsers.ts, webhook delivery
 * in sim/engine-webhooks.ts. The HTTP routes (sim/engine-routes.ts) and the control (sim/control-routes.ts) drive it.
 */

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

/** What a send puts on the wire: a text, or a file/voice note with its media (kept for get-media-by-message). */
export type Outgoing =
  | { kind: 'text'; text: string }
  | { kind: 'document' | 'ptt'; mimetype: string | undefined; base64: string | undefined };

/** The server's default `webhook.ignore` (spec §4). */
const WEBHOOK_IGNORE = ['status@broadcast'];
/** Time from a launch to the failed page.goto when WhatsApp Web is unreachable. */
const NAVIGATION_FAIL_MS = 300;
/** The library's wait for WPP after "Injecting wapi.js" (`waitForFunction`, 30 s). */
const WAPI_TIMEOUT_MS = 30_000;

function randomUrlcode(): string {
  // A WhatsApp multi-device QR ref: "2@<ref>,<noise key>,<identity key>,<adv secret>".
  const part = (bytes: number) => crypto.randomBytes(bytes).toString('base64');
  return `2@${part(45)},${part(32)},${part(32)},${part(32)}`;
}

export class EngineModel {
  readonly cfg: SimConfig;
  readonly version: string;
  /** The engine's stdout (sim/engine-log.ts); the routes write the server's own error entries to it too. */
  readonly log: EngineLog;
  /** The server's in-memory `clientsArray`. */
  readonly clients = new Map<string, Client>();
  /** The token store (`tokens/<s>.data.json`): last config per session; logout does not remove it. */
  readonly tokenStore = new Map<string, Record<string, unknown>>();
  /** Known LID → phone digits, for contact/pn-lid. */
  readonly lids = new Map<string, string>();

  private secret: string;
  /** Every SECRET_KEY this engine had: masked in recorded call paths (a gateway may still send an old one). */
  private readonly secretsSeen: Set<string>;
  private readonly webhookUrl: string | undefined;
  private readonly defaultPhone: string;
  private readonly browsers: Browsers;
  private readonly webhooks = new WebhookSender();
  private started = Date.now();
  /** Every message the simulated pages have seen, per session, for get-media-by-message. */
  private readonly messages = new Map<string, Map<string, StoredMessage>>();
  /** Requests the engine does not answer (or answers late): they lose their connection when it goes away. */
  private readonly held = new Set<Response>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private disposed = false;
  /** `qrPool`: urlcodes with their canvas image, drawn on first use; `qrPoolNext` is the next one handed out. */
  private readonly qrPool: Array<{ urlcode: string; qrcode: string }> = [];
  private readonly qrPoolSize: number;
  private qrPoolNext = 0;

  constructor(options: SimulatorOptions = {}) {
    this.browsers = new Browsers(options, (client) => this.browserDied(client));
    this.secret = options.secretKey ?? 'THISISMYSECURETOKEN';
    this.secretsSeen = new Set([this.secret]);
    this.version = options.version ?? '2.10.4';
    this.webhookUrl = options.webhookUrl;
    this.defaultPhone = options.phone ?? '5511999990000';
    this.cfg = initialConfig(options);
    this.log = new EngineLog(options.logFile);
    this.qrPoolSize = Math.floor(options.qrPool ?? 0);
  }

  // ---- plumbing ----------------------------------------------------------------------------------------------

  get secretKey(): string {
    return this.secret;
  }

  /** Seconds since the engine process started (healthz). */
  uptime(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** `text` with every secret this engine had replaced by `***`. */
  maskSecrets(text: string): string {
    let masked = text;
    for (const secret of this.secretsSeen) if (secret) masked = masked.split(secret).join('***');
    return masked;
  }

  /** Runs `fn` after `ms` unless the engine is disposed or restarted first (or, with a client, the entry stops). */
  schedule(client: Client | null, ms: number, fn: () => void): void {
    if (this.disposed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      client?.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
    client?.timers.add(timer);
  }

  private stopTimers(client: Client): void {
    for (const timer of client.timers) {
      clearTimeout(timer);
      this.timers.delete(timer);
    }
    client.timers.clear();
    client.epoch++;
  }

  /** A library-logger line tagged `[<session>:<type>]` (no timestamp). */
  private tagged(level: LogLevel, client: Client, type: string, message: string): void {
    this.log.tagged(level, client.name, type, message);
  }

  /** A request the engine does not answer now; it loses its connection if the engine goes away first. */
  hold(res: Response): void {
    this.held.add(res);
    res.on('close', () => this.held.delete(res));
  }

  unhold(res: Response): void {
    this.held.delete(res);
  }

  releaseHeld(): void {
    // The engine never answers these; dropping the connection is what a restarted engine does to them.
    for (const res of this.held) if (!res.headersSent) res.destroy();
    this.held.clear();
  }

  // ---- webhooks ----------------------------------------------------------------------------------------------

  /** `callWebHook` (spec §4): `{event, session, ...data}` to the session's webhook, no retry, errors swallowed. */
  private webhook(client: Client, event: string, data: Record<string, unknown>): void {
    const configured = client.config?.webhook;
    const url = typeof configured === 'string' && configured ? configured : this.webhookUrl;
    if (!url || this.disposed) return;
    if (
      WEBHOOK_IGNORE.includes(event) ||
      WEBHOOK_IGNORE.includes(String(data.from)) ||
      WEBHOOK_IGNORE.includes(String(data.type))
    )
      return;
    // The reset entry has no `session` field, so JSON.stringify drops the key (spec §2.2).
    this.webhooks.post(client.name, url, event, {
      event,
      session: client.hasSessionField ? client.name : undefined,
      ...data,
    });
  }

  /**
   * The server's statusFind handler (createSessionUtil.ts:106-128): webhook `status-find`, then
   * `logger.info(status + '\n\n')`, which is the untagged `info: <ISO> browserClose` line plus two blank lines.
   */
  private statusFind(client: Client, status: string): void {
    this.webhook(client, 'status-find', { status });
    this.log.server('info', `${status}\n\n`);
  }

  sentWebhooks(): RecordedWebhook[] {
    return this.webhooks.list();
  }

  clearWebhooks(): void {
    this.webhooks.clear();
  }

  /** Resolves once every webhook queued so far has been answered (or failed). */
  flushWebhooks(): Promise<void> {
    return this.webhooks.flush();
  }

  // ---- entries, tokens, messages, config ---------------------------------------------------------------------

  private need(name: string): Client {
    const client = this.clients.get(name);
    if (!client) throw new Error(`session ${name} has no engine entry`);
    return client;
  }

  messagesOf(name: string): Map<string, StoredMessage> {
    let map = this.messages.get(name);
    if (!map) {
      map = new Map();
      this.messages.set(name, map);
    }
    return map;
  }

  /** A valid engine token for the session (what generate-token mints). */
  tokenFor(name: string): string {
    return mintToken(name, this.secret);
  }

  /** SECRET_KEY changed: tokens minted with the old one no longer verify; both stay masked in recorded calls. */
  rotateSecret(newSecret: string): void {
    if (typeof newSecret !== 'string' || !newSecret) throw new Error('the new secret must be a non-empty string');
    this.secret = newSecret;
    this.secretsSeen.add(newSecret);
  }

  failNextStart(mode: FailMode, name?: string): void {
    this.browsers.failNextStart(mode, name);
  }

  mapLid(lid: string, phone: string): void {
    this.lids.set(lid.split('@')[0], phone.split('@')[0].replace(/\D/g, ''));
  }

  /** Applies the known keys of `patch`; turning hangAll or hangSends off drops the requests they held. */
  configure(patch: Partial<SimConfig>): SimConfig {
    const cfg = this.cfg;
    const releasing = (patch.hangAll === false && cfg.hangAll) || (patch.hangSends === false && cfg.hangSends);
    for (const key of Object.keys(cfg) as Array<keyof SimConfig>) {
      if (patch[key] !== undefined) (cfg as unknown as Record<string, unknown>)[key] = patch[key];
    }
    if (releasing) this.releaseHeld();
    return { ...cfg };
  }

  sessions(): SessionView[] {
    return [...this.clients.values()].map((c) => ({
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
    }));
  }

  browserViews(): BrowserView[] {
    return this.browsers.views(this.clients);
  }

  // ---- the session state machine: start, close, logout, send ------------------------------------------------

  /** `createSessionUtil`: a no-op unless the status is null or CLOSED (idempotent, race-safe). */
  createSession(name: string, config: Record<string, unknown>, waiter?: Response): void {
    let client = this.clients.get(name);
    if (!client) {
      client = newClient(name, true, this.defaultPhone);
      this.clients.set(name, client);
    }
    if (client.status !== null && client.status !== 'CLOSED') return;
    client.status = 'INITIALIZING';
    client.config = config;
    this.tokenStore.set(name, config);
    if (waiter) {
      client.waiters.push(waiter);
      this.hold(waiter);
    }
    this.launch(client);
  }

  /**
   * close-session on an entry with a status: the entry is replaced by `{status:null}` (no session, no config) before
   * close() is even tried. Returns false when `client` was the placeholder, which has no close() (the route's 500).
   */
  closeSession(client: Client): boolean {
    this.clients.set(client.name, newClient(client.name, false, this.defaultPhone));
    if (!client.loggedIn) {
      // The browser of that attempt is not closed: it keeps running and holding the profile (spec §7.3).
      if (this.cfg.orphanBrowsersOnClose && client.browser === 'running') this.browsers.orphanize(client);
      else {
        this.stopTimers(client);
        this.endBrowser(client);
        client.browser = 'none';
      }
      return false;
    }
    this.stopTimers(client);
    // close() closes page and browser; puppeteer's `disconnected` event becomes status-find browserClose.
    const wasRunning = client.browser === 'running';
    this.endBrowser(client);
    client.browser = 'none';
    if (wasRunning) this.statusFind(client, 'browserClose');
    client.status = null;
    this.webhook(client, 'closesession', { message: `Session: ${client.name} disconnected`, connected: false });
    return true;
  }

  /**
   * logout-session on a logged-in entry: the entry goes at once; 500 ms later the server has deleted the profile,
   * sends `logoutsession` and calls `loggedOut` (the route answers then).
   */
  logout(client: Client, loggedOut: () => void): void {
    const name = client.name;
    this.stopTimers(client);
    this.clients.delete(name);
    // The token file survives (wrong path in the server), so show-all-sessions and start-all keep it (§2.2).
    this.schedule(null, 500, () => {
      this.browsers.removeProfile(name);
      this.webhook(client, 'logoutsession', { message: `Session: ${name} logged out`, connected: false });
      loggedOut();
    });
    // The browser is left open, but the library's 1 s isRegistered poll then sees the logout: disconnectedMobile,
    // client.close() and so browserClose (spec §3.1). The entry is already gone, so nothing else changes.
    this.schedule(null, 1500, () => {
      this.tagged('info', client, 'client', 'Session Unpaired');
      this.statusFind(client, 'disconnectedMobile');
      const wasRunning = client.browser === 'running';
      this.endBrowser(client);
      client.browser = 'none';
      if (wasRunning) this.statusFind(client, 'browserClose');
    });
  }

  /**
   * A send the page accepted: the sent messages (kept for get-media-by-message), one per recipient, and their
   * `onack` (ack 2) webhooks `ackDelayMs` later unless the entry stopped meanwhile.
   */
  deliver(client: Client, phones: string[], outgoing: Outgoing): Array<Record<string, unknown>> {
    const me = `${client.phone}@c.us`;
    const store = this.messagesOf(client.name);
    const response = phones.map((to): Record<string, unknown> => {
      if (outgoing.kind === 'text') {
        const message = sentTextMessage(me, to, outgoing.text);
        store.set(String(message.id), { id: String(message.id), type: 'chat' });
        return message;
      }
      const id = serializedMessageId(true, to, newKeyId());
      const { kind: type, mimetype, base64 } = outgoing;
      store.set(id, { id, type, mimetype: mimetype ?? 'application/octet-stream', base64: base64 ?? '' });
      return { ack: 1, id };
    });
    const epoch = client.epoch;
    for (const item of response) {
      const id = String(item.id);
      this.schedule(client, this.cfg.ackDelayMs, () => {
        if (client.epoch === epoch) this.webhook(client, 'onack', ackEvent(id, 2, me));
      });
    }
    return response;
  }

  // ---- the session state machine: launch, QR, autoclose, login -----------------------------------------------

  private launch(client: Client): void {
    this.stopTimers(client);
    client.loggedIn = false;
    client.qrAttempt = 0;
    client.launchFailed = false;
    client.wapiPending = false;
    if (client.browser === 'running') {
      // Relaunching an entry whose browser still runs (a pre-login "Session Unpaired" flip to CLOSED, then a start):
      // the old create() keeps its browser, which now holds the profile like an orphan does.
      if (this.cfg.orphanBrowsersOnClose) {
        const ghost: Client = { ...client, timers: new Set(), waiters: [] };
        if (ghost.proc) ghost.proc.owner = ghost;
        client.proc = undefined;
        this.browsers.orphanize(ghost);
      } else this.endBrowser(client);
    }
    client.browser = 'none';
    this.tagged('info', client, 'browser', `Using browser folder '${this.browsers.profileText(client.name)}'`);
    this.tagged('info', client, 'browser', 'Initializing browser...');
    // puppeteer's browser.close() resolves once the process exited: a start right after the simulator closed the
    // previous browser waits for that exit instead of finding it still alive in /proc.
    const profile = this.browsers.profileOf(client.name);
    const closing = this.browsers.closingOn(profile);
    if (closing.length > 0) {
      const epoch = client.epoch;
      void Promise.all(closing).then(() => {
        if (client.epoch === epoch && !this.disposed) this.launchBrowser(client, profile);
      });
      return;
    }
    this.launchBrowser(client, profile);
  }

  /** create() rejecting with a non-Timeout error: INITIALIZING forever, no webhook (spec §3.2, §5.2). */
  private launchRejected(client: Client, error: ErrorForLog): void {
    client.launchFailed = true;
    client.browser = 'none';
    this.tagged('error', client, 'browser', 'Error no open browser');
    this.tagged('error', client, 'browser', error.message);
    this.log.serverError(error);
  }

  private launchBrowser(client: Client, profile: string): void {
    // The executable, the profile and failNextStart (sim/engine-browsers.ts); a `launch` failure means no browser.
    const failure = this.browsers.launchCheck(client.name, profile);
    if (failure?.kind === 'launch') {
      this.launchRejected(client, failure.error);
      return;
    }
    const spawnFailed = this.browsers.start(client, profile);
    if (spawnFailed) {
      this.launchRejected(client, spawnFailed);
      return;
    }
    client.browser = 'running';
    this.tagged('http', client, 'browser', 'checking headless...');
    this.tagged('http', client, 'browser', 'headless option is active, browser hidden');
    this.tagged('info', client, 'client', 'Initializing...');
    this.tagged('verbose', client, 'client', 'Setting WhatsApp WEB version to 2.3000.10305x');
    // Logged at error level on every start of the real engine (the pinned version is gone); not a failure.
    this.tagged('error', client, 'client', 'Version not available for 2.3000.10305x, using latest as fallback');
    this.tagged('verbose', client, 'client', 'Loading WhatsApp WEB');
    const epoch = client.epoch;
    if (failure?.kind === 'navigation' || (!failure && !this.cfg.waWebReachable)) {
      const error = failure?.kind === 'navigation' ? failure.error : navigationError();
      client.launchFailed = true;
      this.schedule(client, NAVIGATION_FAIL_MS, () => this.navigationFailed(client, epoch, error));
      return;
    }
    if (failure?.kind === 'stuck') {
      client.launchFailed = true;
      this.schedule(client, this.cfg.qrDelayMs, () => {
        if (client.epoch !== epoch || client.browser !== 'running') return;
        this.pageLoaded(client);
      });
      return;
    }
    this.schedule(client, this.cfg.qrDelayMs, () => {
      if (client.epoch !== epoch || client.browser !== 'running') return;
      this.pageLoaded(client);
      client.wapiPending = false;
      this.tagged('verbose', client, 'client', 'wapi.js injected');
      this.tagged('http', client, 'client', 'Checking is logged...');
      this.tagged('info', client, 'client', `Auto close configured to ${Math.round(this.cfg.autoCloseMs / 1000)}s`);
      this.tagged('http', client, 'client', 'Waiting for QRCode Scan...');
      this.emitQr(client, epoch);
    });
  }

  private pageLoaded(client: Client): void {
    this.tagged('verbose', client, 'page', 'Page loaded');
    this.tagged('verbose', client, 'client', 'Injecting wapi.js');
    client.wapiPending = true;
  }

  /**
   * page.goto failed (spec §7.3): one untagged server entry, the page still "loads" (about:blank), the library
   * injects and waits 30 s for WPP in vain. The browser keeps running and holding the profile; status INITIALIZING.
   */
  private navigationFailed(client: Client, epoch: number, error: ErrorForLog): void {
    if (client.epoch !== epoch || client.browser !== 'running') return;
    this.log.serverError(error);
    this.pageLoaded(client);
    this.schedule(client, WAPI_TIMEOUT_MS, () => {
      if (client.epoch !== epoch || !client.wapiPending) return;
      client.wapiPending = false;
      this.tagged('verbose', client, 'client', 'wapi.js failed');
      this.tagged('error', client, 'client', 'TimeoutError: Waiting failed: 30000ms exceeded');
    });
  }

  /**
   * A new QR reference and the library's image of it: WhatsApp Web's own 264 px canvas, not the server's re-render
   * (§2.2, §4), so the webhook's bytes differ from status-session's for the same urlcode. With `qrPool`, the next of
   * the pool (never the one the session shows now).
   */
  private nextQr(client: Client): { urlcode: string; qrcode: string } {
    const draw = () => {
      const urlcode = randomUrlcode();
      return { urlcode, qrcode: qrPng(urlcode, { width: 264, margin: 1 }).toString('base64') };
    };
    if (this.qrPoolSize < 2) return draw();
    let index = this.qrPoolNext++ % this.qrPoolSize;
    if (this.qrPool[index] && this.qrPool[index].urlcode === client.urlcode)
      index = this.qrPoolNext++ % this.qrPoolSize;
    this.qrPool[index] ??= draw();
    return this.qrPool[index];
  }

  /** `catchQR` → `exportQR`: status QRCODE, new urlcode, webhook `qrcode`, and the held waitQrCode reply. */
  private emitQr(client: Client, epoch: number): void {
    if (client.epoch !== epoch || client.loggedIn || client.browser !== 'running') return;
    const { urlcode, qrcode } = this.nextQr(client);
    client.status = 'QRCODE';
    client.urlcode = urlcode;
    client.qrAttempt++;
    this.tagged('verbose', client, 'client', `Waiting for QRCode Scan: Attempt ${client.qrAttempt}`);
    this.webhook(client, 'qrcode', { qrcode, urlcode });
    for (const res of client.waiters.splice(0)) {
      if (!res.headersSent) res.json({ status: 'qrcode', qrcode, urlcode, session: client.name });
    }
    if (client.qrAttempt === 1) this.schedule(client, this.cfg.autoCloseMs, () => this.autoClose(client, epoch));
    this.schedule(client, this.cfg.qrRotateMs, () => this.emitQr(client, epoch));
  }

  /**
   * QR-phase autoclose (spec §3.3): CLOSED with the urlcode kept (stale QR). `autocloseCalled` never reaches the
   * webhook because the handler throws on the placeholder first; the scan loop's `qrReadError` and the browser's
   * `browserClose` do.
   */
  private autoClose(client: Client, epoch: number): void {
    if (client.epoch !== epoch || client.loggedIn) return;
    this.stopTimers(client);
    client.status = 'CLOSED';
    this.tagged('info', client, 'client', 'Closing the page');
    this.tagged('verbose', client, 'page', 'Page Closed');
    this.endBrowser(client);
    client.browser = 'none';
    if (this.browsers.isOrphan(client)) this.browsers.forgetOrphan(client);
    this.tagged('warn', client, 'client', 'Failed to authenticate');
    this.statusFind(client, 'qrReadError');
    this.statusFind(client, 'browserClose');
    this.tagged('error', client, 'client', 'Auto Close Called');
  }

  private login(client: Client, phone: string | undefined): void {
    const restored = client.status === 'INITIALIZING';
    this.stopTimers(client);
    client.loggedIn = true;
    client.wapiPending = false;
    // Object.assign(wppClient, placeholder): the library client always carries `session`.
    client.hasSessionField = true;
    client.browser = 'running';
    client.phoneOnline = true;
    client.status = 'CONNECTED';
    if (phone) client.phone = phone.replace(/\D/g, '');
    // There is no CONNECTED webhook; status-find is what the server forwards (spec §4).
    if (restored) this.tagged('http', client, 'client', 'Authenticated');
    else {
      this.tagged('http', client, 'client', 'Checking QRCode status...');
      this.tagged('http', client, 'client', 'Login with success');
    }
    this.statusFind(client, restored ? 'isLogged' : 'qrReadSuccess');
    this.tagged('http', client, 'client', 'Checking phone is connected...');
    this.tagged('http', client, 'client', 'Connected');
    this.statusFind(client, 'inChat');
    this.log.server('info', `Started Session: ${client.name}`);
  }

  // ---- browsers ending -----------------------------------------------------------------------------------------

  /** The simulator ends the entry's browser itself; the page (and so the wait for WPP) goes with it. */
  private endBrowser(client: Client): void {
    client.wapiPending = false;
    this.browsers.end(client);
  }

  /**
   * A browser died without the simulator closing it. The current entry's: `browserClose`; logged in, the session
   * stays CONNECTED (a zombie, spec §3.5(2)); before login create() rejects, the status stays where it was and no
   * more QRs come. An orphan's: forgotten, and its `browserClose` has no `session`.
   */
  private browserDied(client: Client): void {
    const wasWaitingForWapi = client.wapiPending;
    client.wapiPending = false;
    client.proc = undefined;
    this.stopTimers(client);
    if (this.browsers.isOrphan(client)) {
      this.browsers.forgetOrphan(client);
      client.browser = 'none';
    } else {
      client.browser = client.loggedIn ? 'dead' : 'none';
    }
    this.statusFind(client, 'browserClose');
    if (wasWaitingForWapi) {
      // The library's waitForFunction for WPP dies with the page (the real log right after a SIGTERM).
      this.tagged('verbose', client, 'client', 'wapi.js failed');
      this.tagged('error', client, 'client', 'Error: waitForFunction failed: frame got detached.');
    }
  }

  // ---- what the phone and the browser do (the control drives these) ------------------------------------------

  /** The phone scans the QR; a scan while INITIALIZING is a restored login (the profile still holds one). */
  scan(name: string, phone?: string): void {
    const client = this.need(name);
    const waiting = client.status === 'QRCODE' || client.status === 'INITIALIZING';
    if (!waiting || client.browser !== 'running' || client.launchFailed)
      throw new Error(`session ${name} is not waiting for a scan (status ${client.status})`);
    this.login(client, phone);
  }

  /** A message arrives on the phone: `onmessage`, and the message is kept for get-media-by-message. */
  inbound(name: string, input: InboundInput): { id: string } {
    const client = this.need(name);
    if (!client.loggedIn || client.browser !== 'running') throw new Error(`session ${name} is not connected`);
    const { message, stored } = inboundMessage(`${client.phone}@c.us`, input);
    this.messagesOf(name).set(stored.id, stored);
    this.webhook(client, 'onmessage', message);
    return { id: stored.id };
  }

  /** Chromium dies: the entry's running browser, or else the newest running orphan of that session. */
  async killBrowser(name: string): Promise<void> {
    const client = this.clients.get(name);
    const orphans = this.browsers.orphansOf(name);
    const target =
      client?.browser === 'running' ? client : [...orphans].reverse().find((orphan) => orphan.browser === 'running');
    if (!target) {
      if (!client && orphans.length === 0) throw new Error(`session ${name} has no engine entry`);
      throw new Error(`session ${name} has no browser running`);
    }
    const proc = target.proc;
    if (proc?.alive) {
      // The exit handler sends browserClose and applies the state effects, as for any external kill.
      proc.child.kill('SIGKILL');
      await proc.exited;
      return;
    }
    this.browserDied(target);
  }

  /** The phone unlinks the device. */
  unlink(name: string): void {
    const client = this.need(name);
    this.tagged('info', client, 'client', 'Session Unpaired');
    if (!client.loggedIn) {
      // Before login the handler throws on the placeholder: CLOSED, no webhook, and the QR loop carries on (the
      // startup "INITIALIZING -> CLOSED" flip of issue #2083, spec §3.2).
      client.status = 'CLOSED';
      return;
    }
    this.stopTimers(client);
    client.status = 'CLOSED';
    this.clients.delete(name);
    this.statusFind(client, 'disconnectedMobile');
    const wasRunning = client.browser === 'running';
    this.endBrowser(client);
    client.browser = 'none';
    if (wasRunning) this.statusFind(client, 'browserClose');
  }

  /** Page alive, phone offline; back online, the sends it held lose their connection. */
  setPhoneOnline(name: string, online: boolean): void {
    const client = this.need(name);
    client.phoneOnline = online;
    if (online) this.releaseHeld();
  }

  // ---- the process ends --------------------------------------------------------------------------------------

  /**
   * The engine process restarted: its timers, its browsers (puppeteer closes them on SIGTERM, no webhook), its
   * connections and its memory go; the token store, the secret and the config stay. Everything has happened when
   * this returns; the promise resolves once the browser processes exited.
   */
  restart(): Promise<void> {
    const ending: Array<Promise<void>> = [];
    const stop = (client: Client) => {
      this.stopTimers(client);
      for (const res of client.waiters.splice(0)) if (!res.headersSent) res.destroy();
      const proc = client.proc;
      if (proc?.alive) ending.push(proc.exited);
      this.endBrowser(client);
      client.browser = 'none';
    };
    for (const client of this.clients.values()) stop(client);
    for (const orphan of this.browsers.allOrphans()) stop(orphan);
    // Nothing the old process scheduled happens any more (a logout's late webhooks, delayed requests).
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.clients.clear();
    this.browsers.forgetOrphans();
    this.messages.clear();
    this.releaseHeld();
    this.started = Date.now();
    this.log.server('info', 'Server is running on port: 21465');
    return Promise.all(ending).then(() => undefined);
  }

  /** Clears every timer, aborts webhooks in flight, drops held requests and SIGTERMs every browser process. */
  dispose(): void {
    this.disposed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const client of this.clients.values()) client.epoch++;
    for (const orphan of this.browsers.allOrphans()) orphan.epoch++;
    this.browsers.dispose();
    this.webhooks.abort();
    this.releaseHeld();
  }
}

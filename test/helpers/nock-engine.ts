import { setTimeout as wallClockTimeout } from 'node:timers';
import nock from 'nock';
import { ENGINE_SECRET, ENGINE_URL } from './test-gateway';
import { qrDataUrl, shapes, URLCODE } from './engine-shapes';
import { fakeDelay } from './fake-time';

let qrOnce: Promise<string> | undefined;

/** What WPPConnect's `client.status` can be (wppconnect-engine.md §3.2); `CLOSED` also stands for "no client". */
export type FakeStatus = 'CLOSED' | 'INITIALIZING' | 'QRCODE' | 'CONNECTED';

export interface FakeSession {
  status: FakeStatus;
  /** The Puppeteer page answers (check-connection-session). */
  pageAlive: boolean;
  /** host-device works (the page and WhatsApp answer). */
  hostOk: boolean;
  /**
   * host-device hangs this long before answering (a page that no longer responds, §3.5(3)). Wall-clock time even under
   * fake timers: what it races is the HTTP client's own timeout, which is wall-clock too.
   */
  hostHangMs: number;
  /** status-session answers to play in order before falling back to `status` (each one also sets it). */
  script: FakeStatus[];
  /** A QR was shown: after an autoclose status-session keeps serving it with status CLOSED (§2.2). */
  hadQr: boolean;
}

export interface EngineCall {
  session: string;
  route: string;
  at: number;
  requestId?: string;
  body?: unknown;
  /** When the engine answered. */
  doneAt?: number;
  /**
   * The order of this call's arrival (and `doneSeq`, of its answer) among all arrivals and answers: under fake timers
   * a whole exchange can happen within one millisecond, so `at` and `doneAt` alone cannot say which came first.
   */
  seq: number;
  doneSeq?: number;
}

/**
 * A stateful WPPConnect Server 2.10.4 behind nock, with the real reply shapes (wppconnect-engine.md §2.2): records
 * every call in order, and every request nothing matched. Tests steer it by mutating `session(id)` or by overriding
 * `onStart`. Replies can be delayed to make interleaving visible.
 */
export class NockEngine {
  readonly calls: EngineCall[] = [];
  readonly unmatched: string[] = [];
  readonly sessions = new Map<string, FakeSession>();
  /** show-all-sessions refuses the secret key in the path, as an engine whose SECRET_KEY changed does. */
  refuseSecret = false;
  /** Delay of every bearer reply, in ms (of fake time under fake timers: see fake-time.ts `fakeDelay`). */
  delayMs = 0;
  /** What a start-session does to the session; by default a stuck-free start: INITIALIZING. */
  onStart: (session: FakeSession, id: string) => void = (s) => {
    if (s.status === 'CLOSED') s.status = 'INITIALIZING';
  };
  /** Runs while close-session is being answered, e.g. to post the engine's own `closesession` webhook. */
  onClose: (id: string) => Promise<void> | void = () => undefined;
  private readonly noMatch = (req: { method?: string; path?: string; getHeader?: (name: string) => unknown }) => {
    // Requests to the gateway itself (supertest on 127.0.0.1) pass through nock as "no match" too.
    if (!String(req.getHeader?.('host') ?? '').includes(new URL(this.url).host)) return;
    this.unmatched.push(`${req.method} ${req.path}`);
  };
  private qr = '';
  private seq = 0;

  /** Another engine (issue 14: several engines) lives at another URL with its own SECRET_KEY. */
  constructor(
    readonly url: string = ENGINE_URL,
    readonly secret: string = ENGINE_SECRET,
  ) {}

  async install(): Promise<this> {
    // Rendering the 500 px QR takes seconds; one per test file is enough.
    qrOnce ??= qrDataUrl(URLCODE);
    this.qr = await qrOnce;
    nock.emitter.on('no match', this.noMatch);
    const scope = nock(this.url).persist();
    scope.post(new RegExp(`^/api/([^/]+)/${this.secret}/generate-token$`)).reply(201, (uri) => {
      const id = decodeURIComponent(uri.split('/')[2]);
      return { status: 'success', session: id, token: `$2b$10$${id}tok`, full: `${id}:tok` };
    });
    scope.get('/healthz').reply(200, () => {
      this.calls.push({ session: '', route: 'healthz', at: Date.now(), seq: this.seq++ });
      return { uptime: 21.84, message: 'OK', timestamp: Date.now() };
    });
    scope.get(`/api/${this.secret}/show-all-sessions`).reply(() => {
      this.calls.push({ session: '', route: 'show-all-sessions', at: Date.now(), seq: this.seq++ });
      // The engine's SECRET_KEY was rotated without us: its answer to a wrong key (wppconnect-engine.md §2.1).
      if (this.refuseSecret) return [400, { response: false, message: 'The token is incorrect' }];
      return [
        200,
        { response: [...this.sessions.entries()].filter(([, s]) => s.status !== 'CLOSED').map(([id]) => id) },
      ];
    });
    this.route('post', 'start-session', (s, id) => {
      const before = s.status;
      this.onStart(s, id);
      // The first start answers CLOSED although it has begun (wppconnect-engine.md §2.2).
      return [200, before === 'CLOSED' ? shapes.startFirst : this.state(s)];
    });
    this.route('get', 'status-session', (s) => {
      const next = s.script.shift();
      if (next) s.status = next;
      return [200, this.state(s)];
    });
    this.route('get', 'check-connection-session', (s) => [
      200,
      s.status !== 'CLOSED' && s.pageAlive ? shapes.checkConnected : shapes.checkDisconnected,
    ]);
    this.route('get', 'host-device', async (s) => {
      if (s.hostHangMs > 0) await new Promise((r) => wallClockTimeout(r, s.hostHangMs).unref());
      if (s.status !== 'CONNECTED') return [404, shapes.notActive];
      if (!s.hostOk)
        return [500, { status: 'error', message: 'Protocol error (Runtime.callFunctionOn): Target closed' }];
      return [200, { response: { phoneNumber: '5511999990000@c.us' }, session: '' }];
    });
    this.route('post', 'close-session', async (s, id) => {
      await this.onClose(id);
      // A pre-login placeholder answers 500 but is reset anyway; a dead page answers 200 (§2.2, §3.5).
      const placeholder = s.status === 'INITIALIZING' || s.status === 'QRCODE';
      s.status = 'CLOSED';
      s.pageAlive = true;
      s.hostOk = true;
      return placeholder ? [500, shapes.closeError] : [200, shapes.closeOk];
    });
    this.route('post', 'send-message', (s) => {
      if (s.status !== 'CONNECTED' || !s.pageAlive) return [404, shapes.notActive];
      return [201, { status: 'success', response: [{ id: 'true_5511999999999@c.us_3EB0AAAA', ack: 1 }] }];
    });
    this.route('post', 'logout-session', (s) => {
      if (s.status !== 'CONNECTED') return [404, shapes.notActive];
      s.status = 'CLOSED';
      return [200, shapes.closeOk];
    });
    return this;
  }

  dispose(): void {
    nock.emitter.removeListener('no match', this.noMatch);
  }

  session(id: string): FakeSession {
    let s = this.sessions.get(id);
    if (!s) {
      s = { status: 'CLOSED', pageAlive: true, hostOk: true, script: [], hadQr: false, hostHangMs: 0 };
      this.sessions.set(id, s);
    }
    return s;
  }

  /** Records something that happened beside the HTTP API (a profile healed, say) in the order of the calls. */
  note(session: string, route: string): void {
    this.calls.push({ session, route, at: Date.now(), seq: this.seq++ });
  }

  /** Routes called for one session, in order (token minting left out). */
  routes(id: string): string[] {
    return this.calls.filter((c) => c.session === id).map((c) => c.route);
  }

  count(id: string, route: string): number {
    return this.routes(id).filter((r) => r === route).length;
  }

  private state(s: FakeSession): Record<string, unknown> {
    if (s.status === 'QRCODE') s.hadQr = true;
    if (s.status === 'CLOSED') {
      // The engine never clears urlcode: after a QR-phase autoclose it still serves the old QR (§2.2).
      return s.hadQr ? { status: 'CLOSED', qrcode: this.qr, urlcode: URLCODE, version: '2.10.4' } : shapes.closed;
    }
    return {
      status: s.status,
      qrcode: s.status === 'QRCODE' ? this.qr : null,
      ...(s.status === 'QRCODE' ? { urlcode: URLCODE } : {}),
      version: '2.10.4',
      session: '',
    };
  }

  /** A bearer route: the call is recorded when it arrives, takes effect after `delayMs`. */
  private route(
    method: 'get' | 'post',
    name: string,
    effect: (s: FakeSession, id: string) => [number, unknown] | Promise<[number, unknown]>,
  ): void {
    const calls = this.calls;
    const delay = () => this.delayMs;
    const next = () => this.seq++;
    const session = (id: string) => this.session(id);
    const scope = nock(this.url).persist();
    const path = new RegExp(`^/api/([^/]+)/${name}$`);
    (method === 'get' ? scope.get(path) : scope.post(path)).reply(async function (
      this: nock.ReplyFnContext,
      uri,
      body,
    ) {
      const id = decodeURIComponent(/^\/api\/([^/]+)\//.exec(uri)?.[1] ?? '');
      const rid = this.req.headers['x-request-id'];
      const call: EngineCall = {
        session: id,
        route: name,
        at: Date.now(),
        requestId: typeof rid === 'string' ? rid : undefined,
        body: body || undefined,
        seq: next(),
      };
      calls.push(call);
      if (delay() > 0) await fakeDelay(delay());
      const reply = await effect(session(id), id);
      call.doneAt = Date.now();
      call.doneSeq = next();
      return reply;
    });
  }
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import QRCode from 'qrcode';

/**
 * A WPPConnect Server 2.10.4 simulator: the real HTTP API with its real shapes and quirks
 * (../shared/spec/wppconnect-engine.md), plus a `/_sim` control surface. Used by `npm run demo` and the
 * end-to-end tests. Production code never imports it.
 */

export interface SimulatorOptions {
  secretKey?: string;
  /** Time from start-session to the first QR. @default 1500 */
  qrDelayMs?: number;
  /** A new QR (new urlcode) every this many ms while waiting for the scan. @default 20000 */
  qrRotateMs?: number;
  /** QR-phase autoclose. @default 120000 */
  autoCloseMs?: number;
  /** Engine log file to append launch-failure lines to. */
  logFile?: string;
  version?: string;
}

type Status = 'INITIALIZING' | 'QRCODE' | 'CONNECTED' | 'CLOSED' | null;
export type FailMode = 'code21' | 'browser-running' | 'eacces' | 'net' | 'stuck';

interface SimSession {
  name: string;
  status: Status;
  /** false = the placeholder client before login (close() is missing on it). */
  loggedIn: boolean;
  browserAlive: boolean;
  urlcode: string | null;
  /** The PNG of the current urlcode, rendered once per rotation (rendering is the slow part). */
  png: Buffer | null;
  config: Record<string, unknown>;
  phone: string;
  timers: NodeJS.Timeout[];
  media: Map<string, { base64: string; mimetype: string }>;
}

export interface RecordedCall {
  method: string;
  path: string;
  body: unknown;
  at: number;
}

export interface SimulatorControl {
  scan(session: string, phone?: string): Promise<void>;
  inbound(session: string, input: InboundInput): Promise<{ id: string }>;
  killBrowser(session: string): Promise<void>;
  unlink(session: string): Promise<void>;
  failNextStart(mode: FailMode, session?: string): void;
  configure(patch: Partial<SimConfig>): void;
  calls(): RecordedCall[];
  clearCalls(): void;
  sessions(): Array<{ name: string; status: Status; loggedIn: boolean; browserAlive: boolean }>;
}

export interface SimConfig {
  qrDelayMs: number;
  hangSends: boolean;
  sendDelayMs: number;
  unknownNumbers: string[];
  hangAll: boolean;
}

export interface InboundInput {
  from?: string;
  body?: string;
  type?: 'chat' | 'image' | 'ptt' | 'document' | 'video';
  caption?: string;
  mimetype?: string;
  media_base64?: string;
  isGroup?: boolean;
  author?: string;
}

const NOT_ACTIVE = { response: null, status: 'Disconnected', message: 'A sessão do WhatsApp não está ativa.' };
const FAIL_LOG: Record<FailMode, string[]> = {
  code21: [
    'Failed to launch the browser process:  Code: 21',
    '',
    'stderr:',
    "The profile appears to be in use by another Chromium process (12345) on another computer (otherhost). Chromium has locked the profile so that it doesn't get corrupted. If you are sure no other processes are using this profile, you can unlock the profile and relaunch Chromium.",
    '',
    'TROUBLESHOOTING: https://pptr.dev/troubleshooting',
  ],
  'browser-running': [
    'The browser is already running for /usr/src/wpp-server/userDataDir/SESSION. Use a different `userDataDir` or stop the running browser first.',
  ],
  eacces: ['Failed to launch the browser process:  spawn /usr/bin/chromium EACCES'],
  net: ['net::ERR_INTERNET_DISCONNECTED at https://web.whatsapp.com'],
  stuck: [],
};

function randomToken(): string {
  return `$2b$10$${crypto.randomBytes(40).toString('base64').slice(0, 53)}`.replace(/\//g, '_').replace(/\+/g, '-');
}

function randomUrlcode(): string {
  const part = () => crypto.randomBytes(18).toString('base64');
  return `2@${part()},${part()},${part()},${part()}`;
}

function msgId(fromMe: boolean, chat: string): string {
  return `${fromMe}_${chat}_3EB0${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
}

export function createSimulator(options: SimulatorOptions = {}): {
  app: Express;
  control: SimulatorControl;
  dispose(): void;
} {
  const secretKey = options.secretKey ?? 'THISISMYSECURETOKEN';
  const version = options.version ?? '2.10.4';
  const qrRotateMs = options.qrRotateMs ?? 20_000;
  const autoCloseMs = options.autoCloseMs ?? 120_000;
  const cfg: SimConfig = {
    qrDelayMs: options.qrDelayMs ?? 1500,
    hangSends: false,
    sendDelayMs: 0,
    unknownNumbers: [],
    hangAll: false,
  };
  const sessions = new Map<string, SimSession>();
  const tokens = new Map<string, Set<string>>();
  const tokenStore = new Set<string>();
  const failNext = new Map<string, FailMode>();
  const calls: RecordedCall[] = [];
  const held = new Set<Response>();

  const log = (session: string, lines: string[]) => {
    if (!options.logFile || lines.length === 0) return;
    const stamped = [
      `[${session}:browser] Error no open browser`,
      ...lines.map((l, i) => (i === 0 ? `[${session}:browser] ${l.replace('SESSION', session)}` : l)),
    ];
    fs.appendFileSync(options.logFile, `${stamped.join('\n')}\n`);
  };

  // One chain per session: the real server fires each webhook as its own POST, which can arrive out of order;
  // the simulator sends them in order so tests can assert the gateway keeps the order it received.
  const chains = new Map<string, Promise<unknown>>();
  const webhook = (s: SimSession, event: string, data: Record<string, unknown>, withSession = true) => {
    const url = typeof s.config.webhook === 'string' ? s.config.webhook : null;
    if (!url) return;
    const body = JSON.stringify({ event, ...(withSession ? { session: s.name } : {}), ...data });
    // Fire-and-forget, no retry, no auth: exactly what the real server does (wppconnect-engine.md §4).
    const next = (chains.get(s.name) ?? Promise.resolve()).then(() =>
      fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
        .then((res) => res.arrayBuffer())
        .catch(() => undefined),
    );
    chains.set(s.name, next);
  };

  const clearTimers = (s: SimSession) => {
    for (const t of s.timers) clearTimeout(t);
    s.timers = [];
  };
  const later = (s: SimSession, ms: number, fn: () => void) => {
    const t = setTimeout(fn, ms);
    t.unref();
    s.timers.push(t);
  };

  const newQr = async (s: SimSession) => {
    if (s.status !== 'INITIALIZING' && s.status !== 'QRCODE') return;
    const urlcode = randomUrlcode();
    const png = await QRCode.toBuffer(urlcode, { width: 264 });
    if (s.status !== 'INITIALIZING' && s.status !== 'QRCODE') return;
    s.urlcode = urlcode;
    s.png = png;
    s.status = 'QRCODE';
    webhook(s, 'qrcode', { qrcode: png.toString('base64'), urlcode: s.urlcode });
    later(s, qrRotateMs, () => void newQr(s));
  };

  const startBrowser = (s: SimSession) => {
    clearTimers(s);
    s.status = 'INITIALIZING';
    s.browserAlive = true;
    s.loggedIn = false;
    const mode = failNext.get(s.name) ?? failNext.get('*');
    if (mode) {
      failNext.delete(s.name);
      failNext.delete('*');
      // A launch/navigation failure leaves INITIALIZING forever with no webhook (wppconnect-engine.md §5.2).
      s.browserAlive = mode === 'net' || mode === 'stuck';
      log(s.name, FAIL_LOG[mode]);
      return;
    }
    later(s, cfg.qrDelayMs, () => void newQr(s));
    later(s, cfg.qrDelayMs + autoCloseMs, () => {
      if (s.status !== 'QRCODE') return;
      clearTimers(s);
      // QR-phase autoclose: CLOSED with a stale urlcode; autocloseCalled never reaches the webhook (§3.3).
      s.status = 'CLOSED';
      s.browserAlive = false;
      webhook(s, 'status-find', { status: 'qrReadError' });
      webhook(s, 'status-find', { status: 'browserClose' });
    });
  };

  const qrDataUrl = async (s: SimSession) => (s.png ? `data:image/png;base64,${s.png.toString('base64')}` : null);

  const app = express();
  app.use(express.json({ limit: '50mb' }));

  app.use((req, res, next) => {
    if (!req.path.startsWith('/_sim')) {
      const body = JSON.parse(
        JSON.stringify(req.body ?? {}, (_k, v: unknown) =>
          typeof v === 'string' && v.length > 200 ? `${v.slice(0, 200)}…[${v.length}]` : v,
        ),
      ) as unknown;
      calls.push({ method: req.method, path: req.path.split(secretKey).join('***'), body, at: Date.now() });
    }
    // The server adds `session` to JSON replies when the request says exactly application/json (§2.0).
    if (req.get('content-type') === 'application/json') {
      const json = res.json.bind(res);
      res.json = (body: unknown) => {
        if (body && typeof body === 'object' && !Array.isArray(body) && !('session' in body)) {
          const name = typeof req.params?.session === 'string' ? req.params.session : '';
          return json({ ...(body as object), session: sessions.get(name)?.loggedIn ? name : '' });
        }
        return json(body);
      };
    }
    if (cfg.hangAll && req.path.startsWith('/api/')) {
      held.add(res);
      return;
    }
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ uptime: process.uptime(), message: 'OK', timestamp: Date.now() });
  });

  app.post('/api/:session/:secretkey/generate-token', (req, res) => {
    if (req.params.secretkey !== secretKey) {
      res.status(400).json({ response: false, message: 'The SECRET_KEY is incorrect' });
      return;
    }
    const token = randomToken();
    const set = tokens.get(req.params.session) ?? new Set<string>();
    set.add(token);
    tokens.set(req.params.session, set);
    res
      .status(201)
      .json({ status: 'success', session: req.params.session, token, full: `${req.params.session}:${token}` });
  });

  app.get('/api/:secretkey/show-all-sessions', (req, res) => {
    if (req.params.secretkey !== secretKey) {
      res.status(400).json({ response: false, message: 'The token is incorrect' });
      return;
    }
    res.json({ response: [...tokenStore] });
  });

  app.post('/api/:secretkey/start-all', (req, res) => {
    if (req.params.secretkey !== secretKey) {
      res.status(400).json({ response: 'error', message: 'The token is incorrect' });
      return;
    }
    for (const name of tokenStore) {
      const s = sessions.get(name);
      if (s && (s.status === null || s.status === 'CLOSED')) startBrowser(s);
    }
    res.status(201).json({ status: 'success', message: 'Starting all sessions' });
  });

  const auth = (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const parts = header.split(' ');
    if (parts.length < 2 || parts[0] !== 'Bearer') {
      res.status(401).json({ message: 'Token is not present. Check your header and try again' });
      return;
    }
    if (!tokens.get(String(req.params.session))?.has(parts[1])) {
      res.status(401).json({ error: 'Check that the Session and Token are correct' });
      return;
    }
    next();
  };
  const session = (req: Request) => sessions.get(String(req.params.session));
  const connected = (req: Request, res: Response, next: NextFunction) => {
    const s = session(req);
    if (!s || !s.loggedIn || !s.browserAlive) {
      res.status(404).json(NOT_ACTIVE);
      return;
    }
    const phone = typeof req.body?.phone === 'string' ? req.body.phone : null;
    if (phone && !req.body.isGroup && cfg.unknownNumbers.includes(phone.replace(/\D/g, ''))) {
      res.status(400).json({ response: null, status: 'Connected', message: `O número ${phone} não existe.` });
      return;
    }
    next();
  };

  app.post('/api/:session/start-session', auth, (req, res) => {
    const name = String(req.params.session);
    let s = sessions.get(name);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (!s || s.status === null || s.status === 'CLOSED') {
      const fresh = !s || !s.browserAlive;
      s ??= {
        name,
        status: null,
        loggedIn: false,
        browserAlive: false,
        urlcode: null,
        png: null,
        config: {},
        phone: '5511999990000',
        timers: [],
        media: new Map(),
      };
      // The whole body is stored as the config and overwrites the previous one (§3.4).
      s.config = body;
      sessions.set(name, s);
      tokenStore.add(name);
      const wasNull = s.status === null || fresh;
      startBrowser(s);
      if (body.waitQrCode === true && wasNull) {
        const target = s;
        const poll = setInterval(() => {
          if (target.status === 'QRCODE' && target.urlcode) {
            clearInterval(poll);
            res.json({
              status: 'qrcode',
              qrcode: target.png?.toString('base64'),
              urlcode: target.urlcode,
              session: name,
            });
          }
        }, 50);
        return;
      }
      res.json({ status: 'CLOSED', qrcode: null });
      return;
    }
    void qrDataUrl(s).then((qrcode) =>
      res.json({ status: s.status, qrcode, ...(s.urlcode ? { urlcode: s.urlcode } : {}), version }),
    );
  });

  app.get('/api/:session/status-session', auth, (req, res) => {
    const s = session(req);
    if (!s || s.status === null) {
      res.json({ status: 'CLOSED', qrcode: null });
      return;
    }
    // The QR stays after login and after autoclose: the real server never clears urlcode (§2.2).
    void qrDataUrl(s).then((qrcode) => res.json({ status: s.status, qrcode, urlcode: s.urlcode, version }));
  });

  app.get('/api/:session/qrcode-session', auth, (req, res) => {
    const s = session(req);
    if (!s) {
      res.json({
        status: null,
        message: 'Session not started. Please, use the /start-session route, for initialization your session',
      });
      return;
    }
    if (s.png) {
      res.setHeader('Content-Type', 'image/png');
      res.end(s.png);
      return;
    }
    res.json({ status: s.status, message: 'QRCode is not available...' });
  });

  app.get('/api/:session/check-connection-session', auth, (req, res) => {
    const s = session(req);
    if (s?.loggedIn && s.browserAlive) res.json({ status: true, message: 'Connected' });
    else res.json({ status: false, message: 'Disconnected' });
  });

  app.get('/api/:session/host-device', auth, connected, (req, res) => {
    const s = session(req)!;
    res.json({
      status: 'success',
      response: { phoneNumber: `${s.phone}@c.us`, pushname: 'Simulated' },
      mapper: 'device',
    });
  });

  app.post('/api/:session/close-session', auth, (req, res) => {
    const s = session(req);
    if (!s) {
      res.status(500).json({ status: false, message: 'Error closing session', error: { level: 'error' } });
      return;
    }
    if (s.status === null) {
      res.json({ status: true, message: 'Session successfully closed' });
      return;
    }
    const placeholder = !s.loggedIn;
    clearTimers(s);
    s.status = null;
    if (placeholder) {
      // close() does not exist on the placeholder: 500, but the entry is already reset (§2.2). The browser
      // stays up (it keeps holding the profile); the simulator models it as gone so a restart works.
      s.browserAlive = false;
      res.status(500).json({ status: false, message: 'Error closing session', error: { level: 'error' } });
      return;
    }
    s.browserAlive = false;
    s.loggedIn = false;
    webhook(s, 'closesession', { message: `Session: ${s.name} disconnected`, connected: false });
    res.json({ status: true, message: 'Session successfully closed' });
  });

  app.post('/api/:session/logout-session', auth, connected, (req, res) => {
    const s = session(req)!;
    clearTimers(s);
    sessions.delete(s.name);
    // The token file is not deleted (wrong path in the server), so show-all-sessions keeps listing it (§2.2).
    webhook(s, 'logoutsession', { message: `Session: ${s.name} logged out`, connected: false });
    res.json({ status: true, message: 'Session successfully closed' });
  });

  const send = (kind: 'text' | 'file' | 'voice') => (req: Request, res: Response) => {
    const s = session(req)!;
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (kind === 'file' && typeof body.base64 !== 'string' && typeof body.path !== 'string') {
      res.status(401).json({ message: 'Sending the file is mandatory' });
      return;
    }
    const data = kind === 'voice' ? body.base64Ptt : body.base64;
    if (kind !== 'text' && typeof body.path !== 'string' && (typeof data !== 'string' || !data.startsWith('data:'))) {
      res.status(500).json({ status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} });
      return;
    }
    if (cfg.hangSends) {
      held.add(res);
      return;
    }
    const phone = String(body.phone ?? '').replace(/\D/g, '');
    const chat = `${phone}@${body.isGroup ? 'g.us' : 'c.us'}`;
    const id = msgId(true, chat);
    const reply = () => {
      const response =
        kind === 'text'
          ? [
              {
                id,
                body: body.message,
                type: 'chat',
                fromMe: true,
                to: chat,
                from: `${s.phone}@c.us`,
                t: Math.floor(Date.now() / 1000),
                ack: 1,
              },
            ]
          : [{ ack: 1, id }];
      res.status(201).json({ status: 'success', response, mapper: 'return' });
      const serialized = { fromMe: true, remote: chat, id: id.split('_').pop(), _serialized: id };
      setTimeout(
        () =>
          webhook(s, 'onack', {
            id: serialized,
            ack: 2,
            from: `${s.phone}@c.us`,
            to: chat,
            t: Math.floor(Date.now() / 1000),
          }),
        50,
      ).unref();
    };
    if (cfg.sendDelayMs > 0) setTimeout(reply, cfg.sendDelayMs).unref();
    else reply();
  };
  app.post('/api/:session/send-message', auth, connected, send('text'));
  for (const route of ['send-file-base64', 'send-image', 'send-file'])
    app.post(`/api/:session/${route}`, auth, connected, send('file'));
  app.post('/api/:session/send-voice-base64', auth, connected, send('voice'));

  app.get('/api/:session/get-media-by-message/:messageId', auth, (req, res) => {
    const s = session(req);
    if (!s?.loggedIn) {
      res.status(500).json({ status: 'error', message: 'The session is not active', error: { level: 'error' } });
      return;
    }
    const media = s.media.get(String(req.params.messageId));
    if (!media) {
      res.status(400).json({ status: 'error', message: 'Message not found' });
      return;
    }
    res.json(media);
  });

  app.get('/api/:session/contact/pn-lid/:pnLid', auth, (req, res) => {
    const pnLid = String(req.params.pnLid).replace(/\D/g, '');
    if (pnLid.startsWith('0')) {
      res.json({});
      return;
    }
    res.json({
      lid: `${pnLid}@lid`,
      phoneNumber: { server: 'c.us', user: `55119${pnLid.slice(-8)}`, _serialized: `55119${pnLid.slice(-8)}@c.us` },
    });
  });

  // ---- control surface ---------------------------------------------------------------------------------------

  const control: SimulatorControl = {
    async scan(name, phone) {
      const s = sessions.get(name);
      if (!s || (s.status !== 'QRCODE' && s.status !== 'INITIALIZING'))
        throw new Error(`session ${name} is not waiting for a scan`);
      clearTimers(s);
      s.phone = phone ?? s.phone;
      s.status = 'CONNECTED';
      s.loggedIn = true;
      s.browserAlive = true;
      // There is no CONNECTED webhook; status-find inChat is what the server forwards (§4).
      webhook(s, 'status-find', { status: 'inChat' });
    },
    async inbound(name, input) {
      const s = sessions.get(name);
      if (!s?.loggedIn) throw new Error(`session ${name} is not connected`);
      const from = `${(input.from ?? '5511988887777').replace(/\D/g, '')}@${input.isGroup ? 'g.us' : 'c.us'}`;
      const type = input.type ?? 'chat';
      const id = msgId(false, from);
      const isMedia = type !== 'chat';
      if (isMedia)
        s.media.set(id, {
          base64: input.media_base64 ?? Buffer.from('simulated media').toString('base64'),
          mimetype: input.mimetype ?? 'application/octet-stream',
        });
      const author = input.isGroup ? (input.author ?? '5511977776666@c.us') : undefined;
      webhook(s, 'onmessage', {
        id,
        body: isMedia ? (input.media_base64 ?? '') : (input.body ?? ''),
        type,
        t: Math.floor(Date.now() / 1000),
        notifyName: 'Simulated Contact',
        from,
        to: `${s.phone}@c.us`,
        author,
        self: 'in',
        ack: 1,
        isNewMsg: true,
        isGroupMsg: !!input.isGroup,
        isMedia,
        chatId: from,
        fromMe: false,
        sender: { id: author ?? from, name: 'Simulated Contact', pushname: 'Simulated Contact', isMe: false },
        ...(isMedia ? { mimetype: input.mimetype ?? 'application/octet-stream', caption: input.caption } : {}),
      });
      return { id };
    },
    async killBrowser(name) {
      const s = sessions.get(name);
      if (!s) throw new Error(`no session ${name}`);
      s.browserAlive = false;
      // status stays CONNECTED: the only signal is the browserClose webhook (§3.5).
      webhook(s, 'status-find', { status: 'browserClose' });
    },
    async unlink(name) {
      const s = sessions.get(name);
      if (!s) throw new Error(`no session ${name}`);
      clearTimers(s);
      s.status = 'CLOSED';
      s.loggedIn = false;
      s.browserAlive = false;
      webhook(s, 'status-find', { status: 'disconnectedMobile' });
    },
    failNextStart(mode, name) {
      failNext.set(name ?? '*', mode);
    },
    configure(patch) {
      Object.assign(cfg, patch);
      if (patch.hangAll === false || patch.hangSends === false) {
        for (const res of held) if (!res.headersSent) res.destroy();
        held.clear();
      }
    },
    calls: () => [...calls],
    clearCalls: () => {
      calls.length = 0;
    },
    sessions: () =>
      [...sessions.values()].map((s) => ({
        name: s.name,
        status: s.status,
        loggedIn: s.loggedIn,
        browserAlive: s.browserAlive,
      })),
  };

  const ctl = (fn: (req: Request) => Promise<unknown> | unknown) => async (req: Request, res: Response) => {
    try {
      res.json((await fn(req)) ?? { ok: true });
    } catch (error) {
      res.status(409).json({ ok: false, error: String((error as Error).message) });
    }
  };
  app.post(
    '/_sim/sessions/:session/scan',
    ctl((req) => control.scan(String(req.params.session), req.body?.phone)),
  );
  app.post(
    '/_sim/sessions/:session/inbound',
    ctl((req) => control.inbound(String(req.params.session), req.body ?? {})),
  );
  app.post(
    '/_sim/sessions/:session/kill-browser',
    ctl((req) => control.killBrowser(String(req.params.session))),
  );
  app.post(
    '/_sim/sessions/:session/unlink',
    ctl((req) => control.unlink(String(req.params.session))),
  );
  app.post(
    '/_sim/fail-next-start',
    ctl((req) => control.failNextStart(req.body?.mode ?? 'stuck', req.body?.session)),
  );
  app.patch(
    '/_sim/config',
    ctl((req) => control.configure(req.body ?? {})),
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
    '/_sim/sessions',
    ctl(() => control.sessions()),
  );

  // The real server answers unknown routes with Express's HTML 404 (§2.0).
  app.use((req, res) => {
    res
      .status(404)
      .type('html')
      .send(`<!DOCTYPE html><html><body><pre>Cannot ${req.method} ${req.path}</pre></body></html>`);
  });

  return {
    app,
    control,
    dispose() {
      for (const s of sessions.values()) clearTimers(s);
      for (const res of held) if (!res.headersSent) res.destroy();
      held.clear();
    },
  };
}

export async function startSimulator(
  options: SimulatorOptions & { port?: number; host?: string } = {},
): Promise<{ url: string; control: SimulatorControl; close(): Promise<void> }> {
  const sim = createSimulator(options);
  const server: Server = sim.app.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    control: sim.control,
    close: () =>
      new Promise<void>((resolve) => {
        sim.dispose();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

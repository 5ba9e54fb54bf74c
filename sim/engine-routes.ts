import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { CLOSE_TYPEERROR_FRAMES, HEALTHZ_REJECTION_FRAMES } from './engine-log';
import type { Client } from './engine-entry';
import type { EngineModel, Outgoing } from './engine-model';
import { shorten } from './engine-webhooks';
import type { FaultKind, FaultLayer } from './sim-faults';
import { qrDataUrl, qrPng } from './qr-png';
import { contactToArray } from './sim-messages';
import { mintToken, verifyToken } from './sim-tokens';

/**
 * The WPPConnect Server 2.10.4 HTTP API (/work/shared/spec/wppconnect-engine.md, "the spec" below): its routes with
 * their real shapes, status codes and quirks, in front of the engine model (sim/engine-model.ts). Every request is
 * recorded for `control.calls()`, then goes through the fault layer (sim/sim-faults.ts), then reaches its route.
 * Requests for `/_sim` pass through untouched.
 */

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
  /**
   * Several gateway instances (issue 14): the instance that made the call and its lease token on the session
   * (`X-Gateway-Instance`, `X-Gateway-Lease`), so a test can prove no session was driven by two instances at once.
   */
  instance?: string;
  lease?: number;
}

const NOT_ACTIVE = { response: null, status: 'Disconnected', message: 'A sessão do WhatsApp não está ativa.' };
const CLOSE_ERROR = { status: false, message: 'Error closing session', error: { level: 'error' } };
const CLOSE_OK = { status: true, message: 'Session successfully closed' };
const SEND_ERROR = { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} };
const SESSION_NOT_ACTIVE = { status: 'error', message: 'The session is not active', error: { level: 'error' } };
const DATA_URI_RE = /^data:[\w.+-]+\/[\w.+-]+(;[^,]*)?;base64,/i;

/** The fault layer's `noteFault`: marks the call the recording middleware put in `res.locals`. */
export function noteCallFault(res: Response, kind: FaultKind): void {
  const call = res.locals.call as RecordedCall | undefined;
  if (call) call.fault = kind;
}

/**
 * Renders each urlcode once per shape; the status routes are polled a lot. Room for the current QR of every session
 * at a few thousand sessions waiting for a scan (`npm run bench` runs 1 000): a smaller bound would render again on
 * nearly every poll (~5 ms each), and the simulator, not the gateway, would become the slow part.
 */
const QR_RENDERS_KEPT = 4096;

class QrRenderCache {
  private readonly entries = new Map<string, string | Buffer>();

  get<T extends string | Buffer>(key: string, render: () => T): T {
    let hit = this.entries.get(key);
    if (hit === undefined) {
      hit = render();
      this.entries.set(key, hit);
      if (this.entries.size > QR_RENDERS_KEPT) this.entries.delete(this.entries.keys().next().value as string);
    }
    return hit as T;
  }
}

const bodyOf = (req: Request) => (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
const nameOf = (res: Response) => String(res.locals.name);
const clientOf = (res: Response) => res.locals.client as Client | undefined;

type SendKind = 'text' | 'file' | 'voice-base64' | 'voice-path';

/** The engine API. `calls` receives every engine request; `faults` sits between the recording and the routes. */
export function engineRoutes(model: EngineModel, faults: FaultLayer, calls: RecordedCall[]): Router {
  const router = express.Router();
  const cfg = model.cfg;
  const renders = new QrRenderCache();

  // ---- global middleware -------------------------------------------------------------------------------------

  router.use((req, res, next) => {
    if (!req.path.startsWith('/_sim')) {
      const call: RecordedCall = {
        method: req.method,
        path: model.maskSecrets(req.path),
        body: shorten(req.body),
        at: Date.now(),
        ...(req.get('x-gateway-instance')
          ? { instance: req.get('x-gateway-instance'), lease: Number(req.get('x-gateway-lease')) }
          : {}),
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
          const client = clientOf(res);
          const session = client ? (client.hasSessionField ? client.name : undefined) : '';
          return json({ ...(body as object), session });
        }
        return json(body);
      };
    }
    if (cfg.hangAll && req.path.startsWith('/api/')) {
      model.hold(res);
      return;
    }
    next();
  });

  // The fault layer (control.fault): after the call is recorded, before any engine route runs.
  router.use(faults.middleware());

  router.get('/healthz', (req, res) => {
    if (req.get('content-type') === 'application/json') {
      // healthz hands res.send an object; the wrapper JSON.parses it because of the header, the parse throws inside
      // an async handler and no reply is ever written (spec §7.3). Held until dispose (or hangAll is cleared).
      model.log.library(
        'error',
        `Unhandled Rejection: SyntaxError: "[object Object]" is not valid JSON\n${HEALTHZ_REJECTION_FRAMES.join('\n')}`,
      );
      model.hold(res);
      return;
    }
    res.json({ uptime: model.uptime(), message: 'OK', timestamp: Date.now() });
  });

  // ---- routes keyed by the secret ----------------------------------------------------------------------------

  router.post('/api/:session/:secretkey/generate-token', (req, res) => {
    if (req.params.secretkey !== model.secretKey) {
      res.status(400).json({ response: false, message: 'The SECRET_KEY is incorrect' });
      return;
    }
    const session = String(req.params.session);
    const token = mintToken(session, model.secretKey);
    res.status(201).json({ status: 'success', session, token, full: `${session}:${token}` });
  });

  router.get('/api/:secretkey/show-all-sessions', (req, res) => {
    if (req.params.secretkey !== model.secretKey) {
      res.status(400).json({ response: false, message: 'The token is incorrect' });
      return;
    }
    // The token store's file names, not the sessions in memory, and no status (spec §2.2).
    res.json({ response: [...model.tokenStore.keys()] });
  });

  router.post('/api/:secretkey/start-all', (req, res) => {
    if (req.params.secretkey !== model.secretKey) {
      res.status(400).json({ response: 'error', message: 'The token is incorrect' });
    } else {
      res.status(201).json({ status: 'success', message: 'Starting all sessions' });
    }
    // The `return` is missing after the 400, so a wrong secret still starts everything (spec §2.2). Each start
    // gets an empty body, so the config comes back from the token store.
    for (const [name, config] of model.tokenStore) model.createSession(name, config);
  });

  // ---- session routes ----------------------------------------------------------------------------------------

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
    if (!verifyToken(name, model.secretKey, token)) {
      res.status(401).json({ error: 'Check that the Session and Token are correct' });
      return;
    }
    res.locals.name = name;
    res.locals.client = model.clients.get(name);
    if (cfg.authDelayMs > 0) setTimeout(next, cfg.authDelayMs).unref();
    else next();
  };

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

  /** `getSessionState` (spec §2.2); null means "no answer" (waitQrCode on a session with no entry). */
  const stateReply = async (client: Client | undefined, waitQrCode: boolean) => {
    if ((!client || client.status === null) && !waitQrCode) return { status: 'CLOSED', qrcode: null };
    if (!client) return null;
    const urlcode = client.urlcode;
    // Re-rendered by the server from urlcode with the qrcode package's defaults (spec §2.2).
    const qrcode = urlcode ? renders.get(`d:${urlcode}`, () => qrDataUrl(urlcode)) : null;
    return { status: client.status, qrcode, ...(urlcode ? { urlcode } : {}), version: model.version };
  };

  router.post('/api/:session/start-session', auth, async (req, res) => {
    const name = nameOf(res);
    const body = bodyOf(req);
    const waitQrCode = body.waitQrCode === true;
    // getSessionState answers first, from the state before this start; then createSessionUtil runs.
    const reply = await stateReply(model.clients.get(name), waitQrCode);
    model.createSession(name, body, reply ? undefined : res);
    if (reply) res.json(reply);
    // else: held until the first QR, or forever if the launch fails (spec §2.2).
  });

  router.get('/api/:session/status-session', auth, async (_req, res) => {
    res.json(await stateReply(model.clients.get(nameOf(res)), false));
  });

  router.get('/api/:session/qrcode-session', auth, (_req, res) => {
    const client = model.clients.get(nameOf(res));
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

  router.get('/api/:session/check-connection-session', auth, (_req, res) => {
    // isConnected() only throws for a placeholder or a dead page; its boolean result is ignored (spec §2.2).
    const client = model.clients.get(nameOf(res));
    if (client?.loggedIn && client.browser === 'running') res.json({ status: true, message: 'Connected' });
    else res.json({ status: false, message: 'Disconnected' });
  });

  router.get('/api/:session/host-device', auth, statusConnection, (_req, res) => {
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

  router.post('/api/:session/close-session', auth, (_req, res) => {
    const client = model.clients.get(nameOf(res));
    if (!client) {
      model.log.serverError({
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
    if (!model.closeSession(client)) {
      // The placeholder has no close(): TypeError → 500, but the reset already happened.
      model.log.serverError({
        name: 'TypeError',
        message: 'req.client.close is not a function',
        frames: CLOSE_TYPEERROR_FRAMES,
      });
      res.status(500).json(CLOSE_ERROR);
      return;
    }
    res.json(CLOSE_OK);
  });

  router.post('/api/:session/logout-session', auth, statusConnection, (_req, res) => {
    // Answered once the server has deleted the profile, 500 ms later.
    model.hold(res);
    model.logout(clientOf(res) as Client, () => {
      model.unhold(res);
      if (!res.headersSent) res.json(CLOSE_OK);
    });
  });

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
      model.hold(res);
      return;
    }
    const outgoing: Outgoing =
      kind === 'text'
        ? { kind: 'text', text: String(body.message ?? '') }
        : { kind: kind === 'file' ? 'document' : 'ptt', mimetype, base64 };
    const epoch = client.epoch;
    const answer = () => {
      if (res.headersSent || client.epoch !== epoch) return;
      const response = model.deliver(client, phones, outgoing);
      res.status(201).json({ status: 'success', response, mapper: 'return' });
    };
    if (cfg.sendDelayMs > 0) {
      model.hold(res);
      model.schedule(client, cfg.sendDelayMs, answer);
    } else answer();
  };

  router.post('/api/:session/send-message', auth, statusConnection, sendHandler('text'));
  for (const route of ['send-image', 'send-file', 'send-file-base64'])
    router.post(`/api/:session/${route}`, auth, statusConnection, sendHandler('file'));
  router.post('/api/:session/send-voice-base64', auth, statusConnection, sendHandler('voice-base64'));
  router.post('/api/:session/send-voice', auth, statusConnection, sendHandler('voice-path'));

  const mediaReply = (res: Response, name: string, messageId: string) => {
    const message = model.messagesOf(name).get(messageId);
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
  router.get('/api/:session/get-media-by-message/:messageId', auth, (req, res) => {
    const client = clientOf(res);
    if (!client?.loggedIn || client.browser !== 'running') {
      res.status(500).json(SESSION_NOT_ACTIVE);
      return;
    }
    mediaReply(res, client.name, String(req.params.messageId));
  });

  router.post('/api/:session/download-media', auth, statusConnection, (req, res) => {
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
  router.get('/api/:session/contact/pn-lid/:pnLid', auth, statusConnection, (req, res) => {
    const raw = String(req.params.pnLid).trim();
    const [user, server = 'c.us'] = raw.split('@');
    const phoneWid = (phone: string) => ({ server: 'c.us', user: phone, _serialized: `${phone}@c.us` });
    if (/^\w*lid$/.test(server) && user) {
      const phone = model.lids.get(user);
      res.json({ lid: `${user}@lid`, ...(phone ? { phoneNumber: phoneWid(phone) } : {}) });
      return;
    }
    if ((server === 'c.us' || server === 's.whatsapp.net') && /^\d+$/.test(user)) {
      const lid = [...model.lids].find(([, phone]) => phone === user)?.[0];
      res.json({ ...(lid ? { lid: `${lid}@lid` } : {}), phoneNumber: phoneWid(user) });
      return;
    }
    res.status(500).json({ status: 'error', message: 'Error on get contact by PN-LID', error: {} });
  });

  // Unknown routes fall through to Express's own 404: text/html "Cannot GET /path", as on the real server.
  return router;
}

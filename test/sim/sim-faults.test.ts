import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { engineRouteName, startSimulator, type SimulatorOptions } from '../../sim/wppconnect-simulator';
import { type Hooks, pidAlive, removeTempDirs, sleep, startHooks, tempDir, waitUntil } from './sim-helpers';

/**
 * The simulator's fault layer (`control.fault` / `POST /_sim/faults`), engine restart and SECRET_KEY rotation, over a
 * real socket: resets and truncated bodies only show on the wire.
 */

const SECRET = 'SIM-FAULT-SECRET';
const NGINX_502 =
  '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>';

interface Raw {
  status?: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The transport error (reset, body cut short), if any. */
  error?: string;
  ms: number;
}

type Sim = Awaited<ReturnType<typeof startSimulator>>;

/** One request with node:http, keeping whatever arrived before an error. */
function raw(
  url: string,
  method: string,
  pathName: string,
  options: { token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<Raw> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let result: Raw | undefined;
    const done = (extra: Partial<Raw>) => {
      if (result) return;
      result = { headers: {}, body: Buffer.concat(chunks), ms: Date.now() - started, ...extra };
      resolve(result);
    };
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = http.request(`${url}${pathName}`, {
      method,
      agent: false,
      headers: {
        ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}),
        ...(payload ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
      },
    });
    const timer = setTimeout(() => {
      done({ error: 'client timeout' });
      req.destroy();
    }, options.timeoutMs ?? 3_000);
    req.on('response', (res) => {
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        done({ status: res.statusCode, headers: res.headers });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        done({ status: res.statusCode, headers: res.headers, error: e.message });
      });
      res.on('aborted', () => {
        clearTimeout(timer);
        done({ status: res.statusCode, headers: res.headers, error: 'aborted' });
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done({ error: e.code ?? e.message });
    });
    req.end(payload);
  });
}

describe('simulator fault injection', () => {
  let sim: Sim;
  let hooks: Hooks;

  const make = async (options: SimulatorOptions = {}) => {
    sim = await startSimulator({ secretKey: SECRET, qrDelayMs: 30, ...options });
    sim.control.configure({ ackDelayMs: 10 });
    return sim;
  };
  const token = (s: string) => sim.control.tokenFor(s);
  const get = (pathName: string, s = 's1', timeoutMs?: number) =>
    raw(sim.url, 'GET', pathName, { token: token(s), timeoutMs });
  const post = (pathName: string, body: unknown = {}, s = 's1', timeoutMs?: number) =>
    raw(sim.url, 'POST', pathName, { token: token(s), body, timeoutMs });
  const json = (r: Raw) => JSON.parse(r.body.toString('utf8'));
  const connect = async (s: string) => {
    await post(`/api/${s}/start-session`, { webhook: hooks.url }, s);
    await waitUntil(async () => json(await get(`/api/${s}/status-session`, s)).status === 'QRCODE', 'a QR');
    await sim.control.scan(s);
  };
  const send = (s = 's1', timeoutMs?: number) =>
    post(`/api/${s}/send-message`, { phone: '5511988887777', message: 'hi' }, s, timeoutMs);

  beforeEach(async () => {
    hooks = await startHooks();
  });
  afterEach(async () => {
    await sim?.close();
    await hooks.close();
    removeTempDirs();
  });

  describe('selection', () => {
    test('When route names are computed, then they are the engine route names whatever the session, token or secret in the path', () => {
      expect(engineRouteName('/api/s1/send-message')).toBe('send-message');
      expect(engineRouteName('/api/s1:tok/status-session')).toBe('status-session');
      expect(engineRouteName(`/api/s1/${SECRET}/generate-token`)).toBe('generate-token');
      expect(engineRouteName(`/api/${SECRET}/show-all-sessions`)).toBe('show-all-sessions');
      expect(engineRouteName('/api/s1/get-media-by-message/true_1@c.us_ABC')).toBe('get-media-by-message');
      expect(engineRouteName('/api/s1/contact/pn-lid/123@lid')).toBe('contact/pn-lid');
      expect(engineRouteName('/healthz')).toBe('healthz');
    });

    test('When a fault has times:2, then exactly the next two matching calls get it, other routes and sessions are untouched, and the calls are marked', async () => {
      await make();
      const fault = sim.control.fault({ route: 'status-session', session: 's1', status: 500, times: 2 });
      expect(fault).toMatchObject({ kind: 'status', remaining: 2, hits: 0, value: 500 });

      const other = await get('/api/s2/status-session', 's2');
      const health = await raw(sim.url, 'GET', '/healthz');
      const first = await get('/api/s1/status-session');
      const second = await get('/api/s1/status-session');
      const third = await get('/api/s1/status-session');

      expect([other.status, health.status]).toEqual([200, 200]);
      expect([first.status, second.status, third.status]).toEqual([500, 500, 200]);
      expect(json(first)).toEqual({ status: 'error', message: 'The session is not active', error: { level: 'error' } });
      expect(sim.control.faults()).toEqual([]);
      const marked = sim.control.calls().filter((c) => c.fault);
      expect(marked.map((c) => [c.path, c.status, c.fault])).toEqual([
        ['/api/s1/status-session', 500, 'status'],
        ['/api/s1/status-session', 500, 'status'],
      ]);
    });

    test('When a fault selects by path regex over HTTP, then it is listed with its hits and DELETE /_sim/faults removes it', async () => {
      await make();
      const added = await raw(sim.url, 'POST', '/_sim/faults', { body: { path: '^/api/[^/]+/send-', status: 503 } });
      expect(added.status).toBe(200);
      await connect('s1');

      const sent = await send();
      const listed = json(await raw(sim.url, 'GET', '/_sim/faults'));
      const cleared = await raw(sim.url, 'DELETE', '/_sim/faults');
      const after = await send();

      expect(sent.status).toBe(503);
      expect(json(sent)).toEqual({ status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} });
      expect(listed).toEqual([expect.objectContaining({ kind: 'status', path: '^/api/[^/]+/send-', hits: 1 })]);
      expect(cleared.status).toBe(200);
      expect(after.status).toBe(201);
    });

    test('When a spec is invalid, then POST /_sim/faults is 400 naming the problem and control.fault throws', async () => {
      await make();
      const none = await raw(sim.url, 'POST', '/_sim/faults', { body: { route: 'send-message' } });
      const two = await raw(sim.url, 'POST', '/_sim/faults', { body: { latency: 10, hang: true } });
      const notFiveHundred = await raw(sim.url, 'POST', '/_sim/faults', { body: { status: 404 } });

      expect([none.status, two.status, notFiveHundred.status]).toEqual([400, 400, 400]);
      expect(json(none).error).toMatch(/exactly one of latency, hang, reset, status, html, truncate, contentType/);
      expect(json(notFiveHundred).error).toMatch(/5xx/);
      expect(() => sim.control.fault({ route: 'x', times: 0, hang: true })).toThrow(/times/);
    });

    test('When /_sim is called while every route has a fault, then the control surface is never faulted', async () => {
      await make();
      sim.control.fault({ hang: true });
      const calls = await raw(sim.url, 'GET', '/_sim/calls', { timeoutMs: 5_000 });
      expect(calls.status).toBe(200);
    });
  });

  describe('faults', () => {
    test('When latency is injected, then the answer is the real one, that much later', async () => {
      await make();
      // A second of latency: the cleared answer is told apart by a wide margin, not a wall-clock bound a loaded machine
      // can cross.
      sim.control.fault({ route: 'status-session', latency: 1_000 });
      const slow = await get('/api/s1/status-session');
      sim.control.clearFaults();
      const fast = await get('/api/s1/status-session');

      expect(slow.status).toBe(200);
      expect(json(slow)).toEqual({ status: 'CLOSED', qrcode: null });
      expect(slow.ms).toBeGreaterThanOrEqual(990);
      expect(fast.ms).toBeLessThan(slow.ms - 500);
    });

    test('When a send is slower than its caller waits, then the engine still sends it (the ack webhook follows)', async () => {
      await make();
      await connect('s1');
      // The caller gives up a second after sending and the engine answers a second after that: on a loaded machine a
      // 50 ms caller could give up before its request was even read, and an unread request is never sent.
      sim.control.fault({ route: 'send-message', latency: 2_000 });
      const gaveUp = await send('s1', 1_000);
      expect(gaveUp.error).toBe('client timeout');
      expect(sim.control.calls().filter((c) => c.path === '/api/s1/send-message' && c.fault)).toHaveLength(1);
      // Answers as soon as the ack arrives; the budget only has to survive a loaded machine (2 s did not, once).
      await hooks.waitFor((b) => b.event === 'onack', 10_000);
    });

    test('When a route hangs, then it never answers until the fault is cleared, which drops the connection', async () => {
      await make();
      sim.control.fault({ route: 'status-session', hang: true });
      const pending = get('/api/s1/status-session', 's1', 5_000);
      await sleep(300);
      const other = await get('/api/s1/check-connection-session');
      sim.control.clearFaults();
      const hung = await pending;

      expect(other.status).toBe(200);
      expect(hung.ms).toBeGreaterThanOrEqual(290);
      expect(hung.status).toBeUndefined();
      expect(hung.error).toBe('ECONNRESET');
    });

    test('When a route is reset before the engine handles it, then the socket closes without an answer and nothing happens', async () => {
      await make();
      await connect('s1');
      hooks.received.length = 0;
      sim.control.fault({ route: 'send-message', reset: true });
      const reset = await send();
      await sleep(100);

      expect(reset.status).toBeUndefined();
      expect(reset.error).toBe('ECONNRESET');
      expect(hooks.received.filter((b) => b.event === 'onack')).toEqual([]);
    });

    test('When a route is reset after the engine handled it, then the socket closes without an answer but the message went out', async () => {
      await make();
      await connect('s1');
      sim.control.fault({ route: 'send-message', reset: 'after' });
      const reset = await send();

      expect(reset.status).toBeUndefined();
      expect(reset.error).toBe('ECONNRESET');
      await hooks.waitFor((b) => b.event === 'onack', 2_000);
    });

    test('When a route answers a proxy page, then it is the nginx 502 text/html page and the engine never saw the request', async () => {
      await make();
      await connect('s1');
      hooks.received.length = 0;
      sim.control.fault({ route: 'send-message', html: true });
      sim.control.fault({ route: 'status-session', html: 504 });
      const page = await send();
      const gatewayTimeout = await get('/api/s1/status-session');
      await sleep(100);

      expect(page.status).toBe(502);
      expect(page.headers['content-type']).toBe('text/html');
      expect(page.body.toString()).toBe(NGINX_502);
      expect(gatewayTimeout.status).toBe(504);
      expect(gatewayTimeout.body.toString()).toContain('<title>504 Gateway Timeout</title>');
      expect(hooks.received.filter((b) => b.event === 'onack')).toEqual([]);
    });

    test('When a 201 send is truncated, then the real status and Content-Length arrive with half the JSON, the socket ends, and the message went out', async () => {
      await make();
      await connect('s1');
      sim.control.fault({ route: 'send-message', truncate: true });
      const cut = await send();

      expect(cut.status).toBe(201);
      expect(cut.headers['content-type']).toMatch(/^application\/json/);
      const length = Number(cut.headers['content-length']);
      expect(cut.body.length).toBe(Math.floor(length / 2));
      expect(cut.body.toString().startsWith('{"status":"success","response":[')).toBe(true);
      expect(cut.error).toBe('aborted');
      await hooks.waitFor((b) => b.event === 'onack', 2_000);
    });

    test('When the QR PNG is truncated, then the image/png header arrives with half the bytes', async () => {
      await make();
      await post('/api/s1/start-session');
      await waitUntil(async () => json(await get('/api/s1/status-session')).status === 'QRCODE', 'a QR');
      sim.control.fault({ route: 'qrcode-session', truncate: true });
      const cut = await get('/api/s1/qrcode-session');

      expect(cut.status).toBe(200);
      expect(cut.headers['content-type']).toBe('image/png');
      expect(cut.body.length).toBe(Math.floor(Number(cut.headers['content-length']) / 2));
      expect(cut.error).toBe('aborted');
    });

    test('When a content type is wrong, then the real body arrives labelled text/plain (JSON routes) or text/html (the PNG route)', async () => {
      await make();
      await post('/api/s1/start-session');
      await waitUntil(async () => json(await get('/api/s1/status-session')).status === 'QRCODE', 'a QR');
      sim.control.fault({ route: 'status-session', contentType: 'text/plain' });
      sim.control.fault({ route: 'qrcode-session', contentType: 'text/html' });
      const status = await get('/api/s1/status-session');
      const png = await get('/api/s1/qrcode-session');

      expect(status.status).toBe(200);
      expect(status.headers['content-type']).toBe('text/plain');
      expect(json(status)).toMatchObject({ status: 'QRCODE', qrcode: expect.stringMatching(/^data:image\/png/) });
      expect(png.headers['content-type']).toBe('text/html');
      expect(png.body.subarray(1, 4).toString()).toBe('PNG');
    });
  });

  describe('engine restart and secret rotation', () => {
    test('When the engine restarts, then every session reads CLOSED, its browser is gone without a webhook, held requests drop, and old tokens, the token store and the secret still work', async () => {
      await make();
      await connect('s1');
      await post('/api/s2/start-session', { webhook: hooks.url }, 's2');
      const before = token('s1');
      sim.control.configure({ hangSends: true });
      const held = send('s1', 5_000);
      await sleep(100);
      await sim.control.flushWebhooks();
      hooks.received.length = 0;
      const uptimeBefore = json(await raw(sim.url, 'GET', '/healthz')).uptime;

      await sim.control.restartEngine();

      expect((await held).error).toBe('ECONNRESET');
      sim.control.configure({ hangSends: false });
      const status = await raw(sim.url, 'GET', '/api/s1/status-session', { token: before });
      expect([status.status, json(status)]).toEqual([200, { status: 'CLOSED', qrcode: null }]);
      expect(json(await get('/api/s2/status-session', 's2'))).toEqual({ status: 'CLOSED', qrcode: null });
      expect(sim.control.sessions()).toEqual([]);
      expect(json(await get('/api/s1/check-connection-session'))).toEqual({ status: false, message: 'Disconnected' });
      expect((await send()).status).toBe(404);
      const listed = await raw(sim.url, 'GET', `/api/${SECRET}/show-all-sessions`);
      expect(json(listed)).toEqual({ response: ['s1', 's2'] });
      expect(json(await raw(sim.url, 'GET', '/healthz')).uptime).toBeLessThanOrEqual(uptimeBefore);
      await sleep(100);
      expect(hooks.received).toEqual([]);

      // A start after the restart builds a new client; a scan while INITIALIZING is the restored login.
      await post('/api/s1/start-session', { webhook: hooks.url });
      await sim.control.scan('s1');
      expect(json(await get('/api/s1/status-session')).status).toBe('CONNECTED');
    });

    test('When the engine restarts in process mode, then its browser processes end', async () => {
      const userDataDir = fs.realpathSync(tempDir());
      await make({ browserProcesses: true, userDataDir });
      await connect('s1');
      const [browser] = sim.control.browsers();
      expect(browser).toBeDefined();

      await sim.control.restartEngine();

      expect(pidAlive(browser.pid)).toBe(false);
      expect(sim.control.browsers()).toEqual([]);
      expect(fs.existsSync(path.join(userDataDir, 's1'))).toBe(true);
    });

    test('When POST /_sim/restart-engine is called, then sessions are forgotten', async () => {
      await make();
      await connect('s1');
      const res = await raw(sim.url, 'POST', '/_sim/restart-engine');
      expect(res.status).toBe(200);
      expect(json(await get('/api/s1/status-session'))).toEqual({ status: 'CLOSED', qrcode: null });
    });

    test('When SECRET_KEY is rotated, then old tokens get the real 401, generate-token with the old secret the real 400, and the new secret works', async () => {
      await make();
      await connect('s1');
      const old = token('s1');

      const rotated = await raw(sim.url, 'POST', '/_sim/rotate-secret', { body: { secret: 'NEW-SECRET' } });

      expect(rotated.status).toBe(200);
      const refused = await raw(sim.url, 'GET', '/api/s1/status-session', { token: old });
      expect([refused.status, json(refused)]).toEqual([401, { error: 'Check that the Session and Token are correct' }]);
      const mintOld = await raw(sim.url, 'POST', `/api/s1/${SECRET}/generate-token`);
      expect([mintOld.status, json(mintOld)]).toEqual([
        400,
        { response: false, message: 'The SECRET_KEY is incorrect' },
      ]);
      const listOld = await raw(sim.url, 'GET', `/api/${SECRET}/show-all-sessions`);
      expect(listOld.status).toBe(400);
      const mintNew = await raw(sim.url, 'POST', '/api/s1/NEW-SECRET/generate-token');
      expect(mintNew.status).toBe(201);
      const fresh = await raw(sim.url, 'GET', '/api/s1/status-session', { token: json(mintNew).token });
      // Sessions are kept: only the secret changed.
      expect(json(fresh).status).toBe('CONNECTED');
      expect(sim.control.calls().some((c) => c.path.includes(SECRET) || c.path.includes('NEW-SECRET'))).toBe(false);
    });
  });
});

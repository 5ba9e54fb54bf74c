import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import axios, { type AxiosAdapter, type AxiosInstance, type AxiosRequestConfig } from 'axios';
import nock from 'nock';
import { engineHttpAdapter } from '../../../src/adapters/wppconnect/engine-http-adapter';

/**
 * The engine client's transport (engine-http-adapter.ts) against axios's own Node adapter, on the same real local
 * server: every answer and every failure the client reads must come out the same (status, bytes, headers, and the
 * error's code, message, request and response), since the client's one transport mapping (H10) reads those.
 */
describe('engineHttpAdapter', () => {
  let server: http.Server;
  let base: string;
  let seen: Array<{ method: string; headers: http.IncomingHttpHeaders; body: string }>;
  const agent = new http.Agent({ keepAlive: true });
  let fallbackCalls: number;

  /** The engine client's request kind (wppconnect-client.ts): no redirects, bytes back, its own agents, no proxy. */
  const clientConfig = (adapter: AxiosAdapter | 'http'): AxiosRequestConfig => ({
    baseURL: base,
    maxRedirects: 0,
    maxBodyLength: Infinity,
    maxContentLength: Infinity,
    proxy: false,
    responseType: 'arraybuffer',
    httpAgent: agent,
    headers: { Accept: 'application/json' },
    adapter,
  });
  let ours: AxiosInstance;
  let theirs: AxiosInstance;

  beforeAll(async () => {
    // Real sockets: nock's interceptor stays out of this file.
    nock.restore();
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        const path = new URL(req.url!, 'http://engine').pathname.replace(/^\/api\/s1\//, '/');
        if (path === '/json') {
          res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end('{"status":"success","response":[{"id":"true_5511@c.us_3EB0"}],"session":"s1"}');
        } else if (path === '/html-502') {
          res.writeHead(502, { 'Content-Type': 'text/html' });
          res.end('<html><title>502 Bad Gateway</title></html>');
        } else if (path === '/not-found') {
          res.writeHead(404, { 'Content-Type': 'application/json' });
          res.end('{"message":"Session not found"}');
        } else if (path === '/gzip') {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
          res.end(zlib.gzipSync('{"status":"CONNECTED"}'));
        } else if (path === '/empty') {
          res.writeHead(200);
          res.end();
        } else if (path === '/echo') {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ length: chunks.reduce((n, c) => n + c.length, 0) }));
        } else if (path === '/cut') {
          // The status line and part of the body, then the connection goes.
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '100' });
          res.write('{"status":');
          setTimeout(() => res.socket?.destroy(), 20);
        } else if (path === '/reset') {
          // The whole request was read; the connection breaks before any answer.
          req.socket.destroy();
        } else if (path === '/trickle') {
          // Headers at once, then a byte every 50 ms for 1.5 s: the socket is never idle.
          res.writeHead(200, { 'Content-Type': 'application/json' });
          let n = 0;
          const tick = setInterval(() => {
            if (++n >= 30 || res.destroyed) {
              clearInterval(tick);
              res.end(' ');
            } else res.write(' ');
          }, 50);
        }
        // '/hang': never answers.
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    ours = axios.create(
      clientConfig(
        engineHttpAdapter(() => {
          fallbackCalls++;
          throw new Error('the request went to the fallback adapter');
        }),
      ),
    );
    theirs = axios.create(clientConfig('http'));
  });

  afterAll(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    seen = [];
    fallbackCalls = 0;
  });

  afterEach(() => expect(fallbackCalls).toBe(0));

  /** What the engine client reads of an outcome (wppconnect-client.ts send, mapTransportError; the adapter's send). */
  async function outcome(client: AxiosInstance, config: AxiosRequestConfig) {
    try {
      const res = await client.request(config);
      return {
        status: res.status,
        body: Buffer.from(res.data as ArrayBuffer).toString('utf8'),
        contentType: res.headers['content-type'],
        contentEncoding: res.headers['content-encoding'],
      };
    } catch (error) {
      const e = error as {
        isAxiosError?: boolean;
        code?: string;
        message: string;
        request?: { writableFinished?: boolean };
        response?: { status?: number };
      };
      return {
        isAxiosError: e.isAxiosError,
        code: e.code,
        message: e.message,
        requestWritten: e.request?.writableFinished,
        responseStatus: e.response?.status,
      };
    }
  }

  const accept = { validateStatus: () => true };
  const cases: Array<[string, () => AxiosRequestConfig]> = [
    [
      'a 201 JSON answer to a POST',
      () => ({ method: 'POST', url: '/api/s1/json', data: { phone: '5511' }, ...accept }),
    ],
    ['a proxy 502 HTML page', () => ({ method: 'GET', url: '/api/s1/html-502', ...accept })],
    ['a 404 rejected by the default validateStatus', () => ({ method: 'GET', url: '/api/s1/not-found' })],
    ['a 502 rejected by the default validateStatus', () => ({ method: 'GET', url: '/api/s1/html-502' })],
    ['a gzip body', () => ({ method: 'GET', url: '/api/s1/gzip', ...accept })],
    ['an empty body', () => ({ method: 'GET', url: '/api/s1/empty', ...accept })],
    ['a body cut after the status line', () => ({ method: 'GET', url: '/api/s1/cut', ...accept })],
    [
      'a connection reset after the request',
      () => ({ method: 'POST', url: '/api/s1/reset', data: { a: 1 }, ...accept }),
    ],
    ['a refused connection', () => ({ method: 'GET', url: 'http://127.0.0.1:1/api/s1/json', ...accept })],
    ['no answer within the timeout', () => ({ method: 'GET', url: '/api/s1/hang', timeout: 150, ...accept })],
    [
      "the caller's signal firing",
      () => ({ method: 'GET', url: '/api/s1/hang', signal: AbortSignal.timeout(100), ...accept }),
    ],
    ['a signal aborted before the call', () => ({ method: 'GET', url: '/api/s1/json', signal: AbortSignal.abort() })],
  ];

  test.each(cases)('When the engine gives %s, then the outcome is the one axios gives', async (_name, config) => {
    // Act
    const expected = await outcome(theirs, config());
    const got = await outcome(ours, config());

    // Assert
    expect(got).toEqual(expected);
  });

  test('When a JSON body is posted, then the engine sees the same request as from axios (bar Accept-Encoding)', async () => {
    // Arrange
    const config = { method: 'POST', url: '/api/s1/echo', data: { phone: '5511', message: 'olá' }, ...accept };
    const request = (i: number) => {
      const { 'accept-encoding': _encoding, connection: _connection, host: _host, ...headers } = seen[i].headers;
      return { method: seen[i].method, headers, body: seen[i].body };
    };

    // Act
    await theirs.request({ ...config, headers: { 'X-Request-Id': 'r-1', Authorization: 'Bearer T' } });
    await ours.request({ ...config, headers: { 'X-Request-Id': 'r-1', Authorization: 'Bearer T' } });

    // Assert
    expect(request(1)).toEqual(request(0));
    expect(seen[1].headers['content-length']).toBe(String(Buffer.byteLength(seen[1].body)));
    expect(seen[1].headers['accept-encoding']).toBeUndefined();
  });

  test('When the body is a stream with its length, then the engine gets every byte under that Content-Length', async () => {
    // Arrange
    const bytes = Buffer.alloc(256 * 1024, 'a');
    const body = () => Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)], { objectMode: false });

    // Act
    const res = await ours.request({
      method: 'POST',
      url: '/api/s1/echo',
      data: body(),
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(bytes.length) },
    });

    // Assert
    expect(JSON.parse(Buffer.from(res.data as ArrayBuffer).toString('utf8'))).toEqual({ length: bytes.length });
    expect(seen[0].headers['content-length']).toBe(String(bytes.length));
  });

  test('When the body keeps trickling past the timeout, then the call times out (axios would wait for the end)', async () => {
    // Act
    const started = Date.now();
    const got = await outcome(ours, { method: 'GET', url: '/api/s1/trickle', timeout: 300, ...accept });
    const theirsGot = await outcome(theirs, { method: 'GET', url: '/api/s1/trickle', timeout: 300, ...accept });

    // Assert
    expect(got).toMatchObject({ code: 'ECONNABORTED', message: 'timeout of 300ms exceeded' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // The difference on purpose: axios's adapter bounds only the socket's idleness once the answer has begun.
    expect(theirsGot).toMatchObject({ status: 200 });
  });

  test('When a request is not of the kind it carries, then it goes to axios own adapter', async () => {
    // Arrange
    const fallback = jest.fn<ReturnType<AxiosAdapter>, Parameters<AxiosAdapter>>(axios.getAdapter('http'));
    const client = axios.create({ ...clientConfig(engineHttpAdapter(fallback)) });

    // Act
    await client.get('/api/s1/json', { params: { a: 1 }, validateStatus: () => true });
    await client.get('/api/s1/json', { responseType: 'text', validateStatus: () => true });
    await client.get('/api/s1/json', { validateStatus: () => true });

    // Assert
    expect(fallback).toHaveBeenCalledTimes(2);
    expect(seen.map((s) => s.method)).toEqual(['GET', 'GET', 'GET']);
  });
});

import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import nock from 'nock';
import { WppconnectClient } from '../../../src/adapters/wppconnect/wppconnect-client';
import { createMemoryLogger } from '../../../src/logger';

/**
 * Which engine calls reuse a kept-alive connection (wppconnect-client.ts, engineAgents): reads that requestWithRetry
 * retries, for up to 2 s of idleness; single-attempt calls only while the connection is warm (1 s); probes never.
 * Against a real local HTTP server, since that is about sockets, not payloads.
 */
describe('WppconnectClient: connections to the engine', () => {
  let server: http.Server;
  let connections: number;
  let headers: http.IncomingHttpHeaders[];
  let client: WppconnectClient;

  beforeAll(async () => {
    // Real sockets: nock's interceptor stays out of this file.
    nock.restore();
    server = http.createServer((req, res) => {
      headers.push(req.headers);
      req.resume();
      req.on('end', async () => {
        if (req.url?.endsWith('/slow-send')) await new Promise((resolve) => setTimeout(resolve, 1_500));
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ status: 'success', token: 'T' }));
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    client = new WppconnectClient({
      baseUrl: `http://127.0.0.1:${port}`,
      secretKey: 'S',
      requestTimeoutMs: 2_000,
      tokens: { get: () => 'T', set: () => undefined, delete: () => undefined },
      logger: createMemoryLogger(),
    });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    connections = 0;
    headers = [];
  });

  test('When retried reads follow each other, then they share one kept-alive connection', async () => {
    // Act
    for (let i = 0; i < 3; i++) {
      await client.requestWithRetry(
        { method: 'GET', path: 'status-session', session: 's1', auth: 'bearer', route: 'status-session' },
        2_000,
      );
    }

    // Assert
    expect(connections).toBe(1);
    expect(headers.map((h) => h.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive']);
  });

  const send = () =>
    client.request({
      method: 'POST',
      path: 'send-message',
      session: 's1',
      body: { phone: '5511999999999', message: 'hi' },
      auth: 'bearer',
      route: 'send-message',
    });

  test('When sends follow each other within a second, then they share one warm connection', async () => {
    // Act
    for (let i = 0; i < 3; i++) await send();

    // Assert
    expect(connections).toBe(1);
    expect(headers.map((h) => h.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive']);
  });

  test('When calls reuse a kept-alive connection, then its TCP keep-alive option is set once, not rewritten on every call', async () => {
    // Arrange: every setKeepAlive on a socket, and how often it changed the option (each change is setsockopt calls).
    const changes = new Map<net.Socket, { last: string; count: number }>();
    const original = net.Socket.prototype.setKeepAlive;
    const spy = jest.spyOn(net.Socket.prototype, 'setKeepAlive').mockImplementation(function (
      this: net.Socket,
      enable?: boolean,
      delay?: number,
    ) {
      const value = `${Boolean(enable)}/${Math.trunc((delay ?? 0) / 1000)}`;
      const seen = changes.get(this);
      if (seen?.last !== value) changes.set(this, { last: value, count: (seen?.count ?? 0) + 1 });
      return original.call(this, enable, delay);
    });

    // Act
    try {
      for (let i = 0; i < 4; i++) await send();
      for (let i = 0; i < 4; i++) {
        await client.requestWithRetry(
          { method: 'GET', path: 'status-session', session: 's1', auth: 'bearer', route: 'status-session' },
          2_000,
        );
      }
    } finally {
      spy.mockRestore();
    }

    // Assert: axios sets 60 s on each request's socket; the agents set the same when a socket goes back to the pool.
    expect(changes.size).toBeGreaterThan(0);
    expect([...changes.values()].map((c) => c.count)).toEqual([...changes.values()].map(() => 1));
  });

  test('When a send follows a quiet second, then it gets a new connection (never one the engine may be closing)', async () => {
    // Arrange
    await send();
    const opened = connections;

    // Act: past WARM_SOCKET_MS (1 s) of idleness the agent has closed the connection.
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    await send();

    // Assert
    expect(connections).toBe(opened + 1);
  });

  test('When a send takes longer than a warm connection may idle, then it still gets its answer', async () => {
    // Act: the idle limit (1 s) is for connections waiting in the pool, not for a call in progress.
    const res = await client.request({
      method: 'POST',
      path: 'slow-send',
      session: 's1',
      body: { phone: '5511999999999', message: 'hi' },
      auth: 'bearer',
      route: 'send-message',
    });

    // Assert
    expect(res.status).toBe(200);
  });

  test('When health probes follow each other, then each gets a connection of its own', async () => {
    // Act
    for (let i = 0; i < 3; i++) {
      await client.request({ method: 'GET', path: '/healthz', auth: 'none', route: 'healthz', probe: true });
    }

    // Assert
    expect(connections).toBe(3);
    expect(headers.map((h) => h.connection)).toEqual(['close', 'close', 'close']);
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildTestGateway, TEST_SECRET, type TestGateway } from '../helpers/test-gateway';

/**
 * The two routes that take large bodies (sends: MESSAGE_BODY_LIMIT; engine events: ENGINE_EVENT_BODY_LIMIT) check who
 * is asking before they read the body: an anonymous client gets its answer while its upload is still going, so it
 * cannot make the gateway read and parse tens of megabytes.
 */

let gw: TestGateway;
let server: http.Server;
let port: number;
beforeEach(async () => {
  gw = buildTestGateway();
  server = gw.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await gw.close();
});

/** A JSON POST to the gateway under test, not yet written. */
function postJson(path: string, headers: Record<string, string>): http.ClientRequest {
  return http.request({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

/** Starts a 50 MB JSON upload, sends its first 64 KB only, and resolves with the answer if one comes meanwhile. */
function startUpload(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = postJson(path, { 'Content-Length': String(50 * 1024 * 1024), ...headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(noAnswer);
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', () => undefined);
    req.write(`{"channel":"c1","to":"5511999990000","text":"${'x'.repeat(64 * 1024)}`);
    // Cleared once the answer is in: left running, it kept the jest worker alive after the file ("failed to exit").
    const noAnswer = setTimeout(() => {
      req.destroy();
      reject(new Error('no answer while the upload was still going'));
    }, 3_000);
  });
}

test('When an anonymous client starts a large send, then it gets 401 before its upload ends', async () => {
  const answer = await startUpload('/api/messages');

  expect(answer.status).toBe(401);
  expect(JSON.parse(answer.body)).toMatchObject({ success: false, error_code: 'UNAUTHORIZED' });
});

test('When a client with a wrong secret starts a large send, then it gets 401 before its upload ends', async () => {
  const answer = await startUpload('/api/messages/send', { 'X-Gateway-Secret': 'wrong' });

  expect(answer.status).toBe(401);
});

test('When someone posts a large body to an engine-event URL with a guessed token, then it gets the 404 of an unknown route before its upload ends', async () => {
  gw.repo.create('c1');

  const answer = await startUpload('/engine-events/c1/guessed-token');

  expect(answer.status).toBe(404);
  expect(JSON.parse(answer.body)).toMatchObject({ success: false, error_code: 'ROUTE_NOT_FOUND' });
});

test('When the caller may send, then the body is read and checked as before', async () => {
  const record = gw.repo.create('c1');
  const post = (path: string, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: '{"not json',
    });

  const send = await post('/api/messages', { 'X-Gateway-Secret': TEST_SECRET });
  const event = await post(`/engine-events/c1/${record.intakeToken}`, {});

  expect(send.status).toBe(400);
  expect((await send.json()).error_code).toBe('VALIDATION_FAILED');
  expect(event.status).toBe(400);
  expect((await event.json()).error_code).toBe('VALIDATION_FAILED');
});

/** Posts `body` with Transfer-Encoding: chunked (no Content-Length), in two writes, and resolves with the answer. */
function postChunked(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = postJson(path, { 'X-Gateway-Secret': TEST_SECRET });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.write(body.slice(0, 10));
    req.end(body.slice(10));
  });
}

test('When a JSON body comes chunked, without a Content-Length, then the route still gets it parsed', async () => {
  // Arrange: bodiless requests skip the body parsers (src/app.ts, withBodyOnly); a chunked body is not bodiless.
  const url = 'http://127.0.0.1:9/hub/webhook';

  // Act
  const answer = await postChunked('/api/webhooks', JSON.stringify({ url, secret: 's'.repeat(32) }));

  // Assert
  expect(answer.status).toBe(201);
  expect(JSON.parse(answer.body)).toMatchObject({ success: true, webhook: { url } });
});

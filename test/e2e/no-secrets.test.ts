import path from 'node:path';
import Database from 'better-sqlite3';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess, waitFor } from '../helpers/processes';
import { type Receiver, startReceiver } from '../helpers/receiver';

/**
 * Every secret and token the gateway holds, searched for in everything that leaves it during a whole scenario at
 * LOG_LEVEL=debug: its log lines and every API answer (bodies and headers), errors included. WPPConnect tokens never
 * expire (wppconnect-engine.md §1.1), so one in a diagnose answer or a log line is a permanent credential leak.
 */

const ENGINE_SECRET = 'ENGINE-SECRET-KEY-9f3b2c1d';
const GATEWAY_SECRET = 'gateway-secret-7a6e5d4c3b2a1908f7e6';
const WEBHOOK_SECRET = 'hub-webhook-secret-5e4d3c2b1a';
const HUB_QUERY_TOKEN = 'hub-query-token-1a2b3c4d5e';
const CREATE_QUERY_TOKEN = 'create-query-token-6f7a8b9c0d';

describe('no secret anywhere it can travel (real processes, LOG_LEVEL=debug)', () => {
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let gw: GatewayProcess;
  let hub: Receiver;
  const answers: string[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ secretKey: ENGINE_SECRET, qrDelayMs: 100 });
    hub = await startReceiver();
    gw = await startGatewayProcess({
      GATEWAY_SECRET,
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: ENGINE_SECRET,
      LOG_LEVEL: 'debug',
      ADOPT_INTERVAL_MS: '0',
      ENGINE_PROBE_INTERVAL_MS: '200',
    });
  }, 30_000);

  afterAll(async () => {
    await gw?.stop();
    await sim?.close();
    await hub?.close();
  });

  /** An API call whose whole answer (status line, headers, body) is kept for the search. */
  const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${gw.url}${url}`, {
      method,
      headers: { 'X-Gateway-Secret': GATEWAY_SECRET, 'Content-Type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const seen: string[] = [];
    res.headers.forEach((value, name) => seen.push(`${name}: ${value}`));
    answers.push(`${method} ${url} ${res.status}\n${seen.join('\n')}\n${text}`);
    try {
      return { status: res.status, body: JSON.parse(text) as any };
    } catch {
      return { status: res.status, body: text as any };
    }
  };

  test('When a channel is created, connected, used, diagnosed and deleted, then no log line and no answer carries a secret or a token', async () => {
    // Arrange: the Hub's webhook with a secret and a token in its query string; a create with its own.
    await call('POST', '/api/webhooks', {
      url: `${hub.url}/hook?token=${HUB_QUERY_TOKEN}&x=1`,
      secret: WEBHOOK_SECRET,
      events: ['message', 'message.ack', 'session.status', 'qr.update'],
    });

    // Act: the whole life of a channel, with errors on the way.
    await call('POST', '/api/channels', {
      channel: 'sec',
      webhookUrl: `${hub.url}/create?access_token=${CREATE_QUERY_TOKEN}`,
    });
    await waitFor(async () => (await call('GET', '/api/channels/sec/qr')).body.status === 'QRCODE', 10_000, 'QR');
    await sim.control.scan('sec');
    await waitFor(async () => (await call('GET', '/api/channels/sec')).body.connected === true, 10_000, 'connected');
    await call('POST', '/api/messages', { channel: 'sec', to: '5511988887777', text: 'hello' });
    await sim.control.inbound('sec', { from: '5511977776666', body: 'hi back' });
    await waitFor(
      () => hub.received.some((r) => r.body?.event === 'message'),
      10_000,
      'the inbound message at the Hub',
    );
    // The tokens the gateway holds right now (they are dropped by the delete).
    const db = new Database(path.join(gw.dataDir, 'gateway.sqlite'), { readonly: true });
    const held = db.prepare('SELECT engine_token, intake_token FROM channels').all() as Array<{
      engine_token: string | null;
      intake_token: string;
    }>;
    db.close();
    for (const url of [
      '/api/channels',
      '/api/channels/sec',
      '/api/channels/sec/diagnose',
      '/api/health',
      '/api/webhooks',
      '/api/webhooks/deliveries',
      '/api/openapi.json',
      '/api/channels/nope/qr',
      '/api/media/sec/not-a-message',
    ]) {
      await call('GET', url);
    }
    await call('GET', '/metrics', undefined, { Authorization: `Bearer ${GATEWAY_SECRET}` });
    await call('GET', '/api/channels', undefined, { 'X-Gateway-Secret': 'wrong' });
    await call('POST', '/api/webhooks', { url: 'ftp://nope' });
    await call('POST', '/api/channels/sec/restart');
    await call('DELETE', '/api/channels/sec');
    await new Promise((r) => setTimeout(r, 500));

    // Assert
    const engineTokens = held.map((h) => h.engine_token).filter((t): t is string => Boolean(t));
    expect(engineTokens.length).toBeGreaterThan(0);
    const secrets: Record<string, string> = {
      GATEWAY_SECRET,
      'WPPCONNECT_SECRET_KEY (engine SECRET_KEY)': ENGINE_SECRET,
      WEBHOOK_SECRET,
      'token in the Hub webhook query string': HUB_QUERY_TOKEN,
      'token in the create webhookUrl query string': CREATE_QUERY_TOKEN,
      ...Object.fromEntries(engineTokens.map((t, i) => [`engine token ${i}`, t])),
      ...Object.fromEntries(held.map((h, i) => [`engine-event intake token ${i}`, h.intake_token])),
    };
    const logs = gw.output();
    expect(logs.length).toBeGreaterThan(10_000);
    expect(answers.length).toBeGreaterThan(15);
    const found = Object.entries(secrets).flatMap(([name, value]) => [
      ...(logs.includes(value) ? [`${name} in the log`] : []),
      ...answers.filter((a) => a.includes(value)).map((a) => `${name} in ${a.split('\n')[0]}`),
    ]);
    expect(found).toEqual([]);
    // The searched-for values were really in play: the engine got the tokens, the Hub the secret.
    expect(hub.received.some((r) => JSON.stringify(r.headers).includes(WEBHOOK_SECRET))).toBe(true);
    expect(answers.some((a) => a.includes('/hook?token=[REDACTED]'))).toBe(true);
  }, 60_000);
});

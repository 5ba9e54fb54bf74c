import fs from 'node:fs';
import nock from 'nock';
import { buildTestGateway, type TestGateway } from '../helpers/test-gateway';

/** Where webhooks may go, as the routes enforce it (the rules themselves: test/unit/events/webhook-target-policy). */

const gateways: TestGateway[] = [];
const dirs: string[] = [];
function gateway(env: Record<string, string> = {}): TestGateway {
  const gw = buildTestGateway(env);
  gateways.push(gw);
  return gw;
}

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});

afterEach(async () => {
  for (const gw of gateways.splice(0)) await gw.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  nock.cleanAll();
});

describe('webhook target rules at registration', () => {
  test.each([
    ['POST /api/webhooks', '/api/webhooks'],
    ['POST /api/channels/:id/webhook', '/api/channels/c1/webhook'],
  ])(
    'When %s targets a cloud metadata address, then 400 WEBHOOK_URL_REJECTED says why and nothing is stored',
    async (_r, route) => {
      const gw = gateway();
      gw.repo.create('c1');
      const res = await gw.api('post', route).send({ url: 'http://169.254.169.254/latest/meta-data/', secret: 'S' });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ success: false, error_code: 'WEBHOOK_URL_REJECTED' });
      expect(res.body.error).toMatch(/169\.254\.169\.254 is a cloud metadata address/);
      expect((await gw.api('get', '/api/webhooks')).body.webhooks).toEqual([]);
    },
  );

  test('When a create carries a webhookUrl at a link-local address, then 400 WEBHOOK_URL_REJECTED and no channel exists', async () => {
    const gw = gateway();
    const res = await gw.api('post', '/api/channels').send({ channel: 'c9', webhookUrl: 'http://[fe80::1]/hook' });
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('WEBHOOK_URL_REJECTED');
    expect((await gw.api('get', '/api/channels')).body.total).toBe(0);
  });

  test('When the Hub is on loopback or the LAN, then it registers', async () => {
    const gw = gateway();
    gw.repo.create('c1');
    expect(
      (await gw.api('post', '/api/webhooks').send({ url: 'http://127.0.0.1:8080/api/whatsapp/webhook' })).status,
    ).toBe(201);
    expect((await gw.api('post', '/api/channels/c1/webhook').send({ url: 'http://192.168.0.10/hook' })).status).toBe(
      201,
    );
  });

  test('When WEBHOOK_ALLOWED_HOSTS is set, then a host outside it is refused with a hint naming the variable, and one inside registers', async () => {
    const gw = gateway({ WEBHOOK_ALLOWED_HOSTS: 'hub.pixel12digital.com.br,*.example.com' });
    gw.repo.create('c1');
    const outside = await gw.api('post', '/api/webhooks').send({ url: 'https://attacker.test/collect' });
    const channelOutside = await gw.api('post', '/api/channels/c1/webhook').send({ url: 'https://example.com/x' });
    const inside = await gw
      .api('post', '/api/webhooks')
      .send({ url: 'https://hub.pixel12digital.com.br/api/whatsapp/webhook' });
    const wildcard = await gw.api('post', '/api/channels/c1/webhook').send({ url: 'https://edge.example.com/x' });

    expect(outside.status).toBe(400);
    expect(outside.body).toMatchObject({
      error_code: 'WEBHOOK_URL_REJECTED',
      hint: expect.stringMatching(/WEBHOOK_ALLOWED_HOSTS/),
    });
    expect(outside.body.error).toMatch(/attacker\.test is not in WEBHOOK_ALLOWED_HOSTS/);
    expect(channelOutside.status).toBe(400);
    expect(inside.status).toBe(201);
    expect(wildcard.status).toBe(201);
  });

  test('When WEBHOOK_ALLOWED_HOSTS is added at a restart, then a stored subscription outside it is paused at start-up with the reason and its deliveries kept', async () => {
    const first = buildTestGateway();
    dirs.push(first.dataDir);
    first.repo.create('c1');
    const sub = await first.api('post', '/api/webhooks').send({ url: 'http://127.0.0.1:9/hub' });
    first.pipeline.publish('c1', 'message', { text: 'kept' });
    await first.stop();

    const second = gateway({ DATA_DIR: first.dataDir, WEBHOOK_ALLOWED_HOSTS: 'hub.example.com' });
    const [listed] = (await second.api('get', '/api/webhooks')).body.webhooks;

    expect(listed).toMatchObject({
      id: sub.body.webhook.id,
      paused: true,
      pausedReason: expect.stringMatching(/127\.0\.0\.1 is not in WEBHOOK_ALLOWED_HOSTS/),
      deliveries: { pending: 1, dead: 0, delivered: 0 },
    });
    expect(second.logger.lines.some((l) => l.level === 'error' && /paused/.test(l.message))).toBe(true);
  });

  test('When WEBHOOK_ALLOWED_HOSTS is fixed at the next restart, then the subscription it paused resumes with its deliveries', async () => {
    const first = buildTestGateway();
    dirs.push(first.dataDir);
    first.repo.create('c1');
    await first.api('post', '/api/webhooks').send({ url: 'http://127.0.0.1:9/hub' });
    first.pipeline.publish('c1', 'message', { text: 'kept' });
    await first.stop();
    const narrowed = buildTestGateway({ DATA_DIR: first.dataDir, WEBHOOK_ALLOWED_HOSTS: 'hub.example.com' });
    dirs.push(narrowed.dataDir); // its own unused temp dir (DATA_DIR points elsewhere)
    await narrowed.stop();

    const fixed = gateway({ DATA_DIR: first.dataDir, WEBHOOK_ALLOWED_HOSTS: 'hub.example.com,127.0.0.1' });
    const [listed] = (await fixed.api('get', '/api/webhooks')).body.webhooks;

    expect(listed).toMatchObject({ paused: false, pausedReason: null, deliveries: { pending: 1 } });
    expect(await fixed.pipeline.outbox.claimDue('test', 32, 60_000)).toHaveLength(1);
  });
});

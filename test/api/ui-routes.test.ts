import request from 'supertest';
import { buildTestGateway, TEST_SECRET, type TestGateway } from '../helpers/test-gateway';

let clockOffset = 0;
const now = () => Date.now() + clockOffset;

/** The operator page's server side: log-in, cookie auth on /api, page rendering. The browser flow is in e2e. */

let gw: TestGateway;
beforeEach(() => {
  clockOffset = 0;
  gw = buildTestGateway({}, { now });
});
afterEach(async () => {
  await gw.close();
});

async function login(): Promise<string> {
  const res = await request(gw.app).post('/ui/login').type('form').send({ secret: TEST_SECRET });
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/ui');
  const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  expect(setCookie[0]).toMatch(/^gw_ui=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
  return setCookie[0].split(';')[0];
}

describe('operator page /ui', () => {
  test('When not logged in, then the pages redirect to the log-in form and the form has a strict CSP', async () => {
    for (const path of ['/ui', '/ui/channels/anything']) {
      const res = await request(gw.app).get(path);
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/ui/login');
    }
    const form = await request(gw.app).get('/ui/login');
    expect(form.status).toBe(200);
    expect(form.headers['content-type']).toMatch(/^text\/html/);
    expect(form.headers['content-security-policy']).toContain("script-src 'self'");
    expect(form.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(form.text).toContain('name="secret"');
  });

  test('When the wrong secret is posted, then 401 with the form again, no cookie, and the attempt is logged without the secret', async () => {
    const res = await request(gw.app).post('/ui/login').type('form').send({ secret: 'wrong-secret-wrong-secret' });

    expect(res.status).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.text).toContain('not the gateway secret');
    expect(gw.logger.lines.some((l) => l.message === 'operator log-in refused')).toBe(true);
    expect(JSON.stringify(gw.logger.lines)).not.toContain('wrong-secret-wrong-secret');
  });

  test('When logged in, then /api reads work with the cookie, writes need X-Gateway-UI, and a forged cookie is refused', async () => {
    const cookie = await login();

    const read = await request(gw.app).get('/api/channels').set('Cookie', cookie);
    const bareWrite = await request(gw.app)
      .post('/api/webhooks')
      .set('Cookie', cookie)
      .send({ url: 'http://hub.test/x' });
    const uiWrite = await request(gw.app)
      .post('/api/webhooks')
      .set('Cookie', cookie)
      .set('X-Gateway-UI', '1')
      .send({ url: 'http://hub.test/x' });
    const forged = await request(gw.app).get('/api/channels').set('Cookie', `gw_ui=${Date.now()}.forged`);

    expect(read.status).toBe(200);
    expect(bareWrite.status).toBe(401);
    expect(bareWrite.body).toMatchObject({ success: false, error_code: 'UNAUTHORIZED' });
    expect(uiWrite.status).toBe(201);
    expect(forged.status).toBe(401);
    expect(forged.headers['www-authenticate']).toBeUndefined();
  });

  test('When a channel name holds markup, then the channel page escapes it', async () => {
    const cookie = await login();
    gw.repo.create('x<script>alert(1)</script>');
    const id = gw.channels.list()[0].id;

    const res = await request(gw.app)
      .get(`/ui/channels/${encodeURIComponent(id)}`)
      .set('Cookie', cookie);

    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<script>alert(1)');
    expect(res.text).toContain('&lt;script&gt;');
  });

  test('When the channel does not exist, then the page is a 404, and logging out clears the cookie', async () => {
    const cookie = await login();

    const missing = await request(gw.app).get('/ui/channels/nope').set('Cookie', cookie);
    const out = await request(gw.app).post('/ui/logout').set('Cookie', cookie);

    expect(missing.status).toBe(404);
    expect(missing.text).toContain('Channel not found');
    expect(out.status).toBe(303);
    expect(String(out.headers['set-cookie'])).toContain('gw_ui=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  test('When an address keeps guessing, then after 10 failures even the right secret gets 429 until the 15-minute window passes', async () => {
    const attempt = (secret: string) => request(gw.app).post('/ui/login').type('form').send({ secret });
    for (let i = 0; i < 10; i++) expect((await attempt(`wrong-guess-number-${i}`)).status).toBe(401);

    const blocked = await attempt(TEST_SECRET);
    clockOffset = 15 * 60 * 1000 + 1;
    const later = await attempt(TEST_SECRET);

    expect(blocked.status).toBe(429);
    expect(blocked.headers['retry-after']).toBe('900');
    expect(blocked.headers['set-cookie']).toBeUndefined();
    expect(later.status).toBe(303);
  });
});

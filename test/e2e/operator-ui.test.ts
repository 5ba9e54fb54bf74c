/// <reference lib="dom" />
// Code inside page.evaluate/waitForFunction runs in the browser: it needs the DOM types.
import fs from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, ROOT, startGatewayProcess, waitFor } from '../helpers/processes';

/**
 * The operator page driven in real headless Chromium (Debian's /usr/bin/chromium; .ci/run installs it) against a
 * gateway child process and the WPPConnect simulator. Screenshots land in test-artifacts/.
 */

const SIM_SECRET = 'SIM-SECRET-KEY';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const CHANNEL = 'uichan';

type Sim = Awaited<ReturnType<typeof startSimulator>>;

jest.setTimeout(90_000);

describe('operator page /ui in headless Chromium', () => {
  let sim: Sim;
  let gw: GatewayProcess;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // WhatsApp rotates the QR every ~20 s; 1.5 s here so the test sees the page follow a rotation.
    sim = await startSimulator({ secretKey: SIM_SECRET, qrDelayMs: 300, qrRotateMs: 1500 });
    gw = await startGatewayProcess({
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: SIM_SECRET,
      CREATE_WAIT_MS: '6000',
      ADOPT_INTERVAL_MS: '0',
    });
    // --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.stop();
    await sim?.close();
  });

  test('When the operator is not logged in, then /ui sends them to the log-in form, and a wrong secret is refused without a cookie', async () => {
    await page.goto(`${gw.url}/ui`);
    expect(new URL(page.url()).pathname).toBe('/ui/login');

    await page.fill('#secret', 'not-the-gateway-secret');
    await page.click('#login-form button[type=submit]');

    await expect(page.locator('#login-error').textContent()).resolves.toContain('not the gateway secret');
    expect(await page.context().cookies()).toEqual([]);
  });

  test('When the operator logs in, creates a channel, and the phone scans the QR, then the page shows the live QR and then connected', async () => {
    // Log in: an HttpOnly, SameSite=Strict cookie; the page script cannot read it.
    await page.goto(`${gw.url}/ui/login`);
    await page.fill('#secret', gw.secret);
    await page.click('#login-form button[type=submit]');
    await page.waitForURL(`${gw.url}/ui`);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'gw_ui', httpOnly: true, sameSite: 'Strict' });
    expect(cookie.value).not.toContain(gw.secret);
    expect(await page.evaluate(() => document.cookie)).toBe('');

    // Create on the simulator through the page.
    await page.fill('#new-channel', CHANNEL);
    await page.click('#create');
    await page.waitForURL(`${gw.url}/ui/channels/${CHANNEL}`);

    // The QR arrives (SSE qr.update or the first GET /qr) as a real PNG data URL and is rendered.
    const qr = page.locator('#qr');
    await qr.waitFor({ state: 'visible', timeout: 20_000 });
    const src = await qr.getAttribute('src');
    expect(src).toMatch(/^data:image\/png;base64,/);
    expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    await expect(page.locator('#status').textContent()).resolves.toMatch(/qr_required|starting/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-channel-qr.png'), fullPage: true });

    // WhatsApp rotates the QR: the page follows (qr.update on the SSE stream), with no reload.
    await page.waitForFunction((first) => document.getElementById('qr')?.getAttribute('src') !== first, src, {
      timeout: 10_000,
    });
    await expect(page.locator('#qr-meta').textContent()).resolves.toMatch(/^QR #\d+, valid until /);

    // The phone scans (simulator), the engine's webhook reaches the gateway, the page turns connected.
    const scan = await fetch(`${sim.url}/_sim/sessions/${CHANNEL}/scan`, { method: 'POST' });
    expect(scan.ok).toBe(true);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected', undefined, {
      timeout: 15_000,
    });
    await expect(qr.isHidden()).resolves.toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-channel-connected.png'), fullPage: true });

    // Diagnose output is shown on the page.
    await page.click('#diagnose');
    await page.locator('#diagnose-output').waitFor({ state: 'visible' });
    await expect(page.locator('#diagnose-output').textContent()).resolves.toContain('"state": "connected"');

    // The list shows it connected too.
    await page.goto(`${gw.url}/ui`);
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-channel="${id}"] .status`)?.textContent === 'connected',
      CHANNEL,
      { timeout: 10_000 },
    );
    // Which engine holds it, and the engines with their load (issue 14).
    expect(await page.locator(`tr[data-channel="${CHANNEL}"] td:nth-child(3)`).textContent()).toBe('default');
    await page.waitForFunction(() => document.querySelector('tr[data-engine="default"]') !== null, null, {
      timeout: 10_000,
    });
    expect(await page.locator('tr[data-engine="default"] td').allTextContents()).toEqual([
      'default',
      'up',
      '1',
      'no limit',
      'yes',
    ]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-channels.png'), fullPage: true });
    expect(fs.statSync(path.join(ARTIFACTS, 'ui-channel-qr.png')).size).toBeGreaterThan(1000);
  });

  test('When the operator restarts and then deletes the channel from its page, then the engine gets close and start, then the channel is gone', async () => {
    await page.goto(`${gw.url}/ui/channels/${CHANNEL}`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent === 'connected');
    await fetch(`${sim.url}/_sim/calls`, { method: 'DELETE' });

    await page.click('#restart');
    await waitFor(
      async () => {
        const calls = (await (await fetch(`${sim.url}/_sim/calls`)).json()) as Array<{ path: string }>;
        const routes = calls.map((c) => c.path.split('/').pop());
        return routes.includes('close-session') && routes.includes('start-session');
      },
      10_000,
      'close and start on the engine',
    );

    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('#delete');
    await page.waitForURL(`${gw.url}/ui`);
    const after = await gw.api('GET', `/api/channels/${CHANNEL}`);
    expect(after.status).toBe(404);
  });

  test('When the page script writes with the cookie but without X-Gateway-UI, then the gateway refuses (CSRF guard)', async () => {
    await page.goto(`${gw.url}/ui`);
    const status = await page.evaluate(async () => {
      const res = await fetch('/api/channels', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: 'csrf' }),
      });
      return res.status;
    });
    expect(status).toBe(401);
    expect((await gw.api('GET', '/api/channels/csrf')).status).toBe(404);
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, waitFor } from '../helpers/processes';

/**
 * The README's first command, as a newcomer runs it (after `npm run build`, which `npm run demo` and `npm test` do):
 * `node dist/scripts/demo.js` prints the URLs and the secret, and the printed curl walk works end to end.
 */

jest.setTimeout(60_000);

const DEMO = path.join(ROOT, 'dist/scripts/demo.js');

describe('npm run demo', () => {
  let demo: ChildProcess;
  let out = '';

  beforeAll(async () => {
    demo = spawn(process.execPath, [DEMO], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    demo.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    await waitFor(() => out.includes('Press Ctrl+C to stop.'), 30_000, `the demo banner; got: ${out}`);
  });

  afterAll(() => {
    if (demo.exitCode === null) demo.kill('SIGKILL');
  });

  test('When the demo starts, then the printed gateway URL and secret walk create → QR → scan → connected → send → delete, and Ctrl+C stops both processes', async () => {
    // Arrange: read what a newcomer reads.
    const gateway = /Gateway:\s+(http:\/\/\S+)/.exec(out)?.[1];
    const secret = /Gateway secret:\s+([0-9a-f]{64})/.exec(out)?.[1];
    const sim = /Simulated engine:\s+(http:\/\/\S+)/.exec(out)?.[1];
    expect(gateway && secret && sim).toBeTruthy();
    expect(out).toContain(`${gateway}/ui`);
    const api = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${gateway}${p}`, {
        method,
        headers: { 'X-Gateway-Secret': secret!, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    // Act + Assert: the walk printed under "Try it".
    const created = await api('POST', '/api/channels', { channel: 'demo' });
    expect(created.status).toBe(201);
    const qr = await api('GET', '/api/channels/demo/qr');
    expect(qr.body.status).toBe('QRCODE');
    expect(String(qr.body.qr)).toMatch(/^data:image\/png;base64,iVBOR/);
    expect((await fetch(`${sim}/_sim/sessions/demo/scan`, { method: 'POST' })).ok).toBe(true);
    await waitFor(async () => (await api('GET', '/api/channels')).body.channels?.[0]?.status === 'connected', 10_000);
    const sent = await api('POST', '/api/messages', { channel: 'demo', to: '5511999999999', text: 'hi' });
    expect(sent.status).toBe(200);
    expect(sent.body.messageId).toMatch(/^true_5511999999999@c\.us_/);
    const deleted = await api('DELETE', '/api/channels/demo');
    expect(deleted.body).toMatchObject({ success: true, deleted: true, verified: true });
    expect((await fetch(`${gateway}/ui/login`)).status).toBe(200);

    // Ctrl+C: the demo exits 0 and the gateway it started no longer listens.
    const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
    demo.kill('SIGINT');
    expect(await exited).toBe(0);
    await expect(fetch(`${gateway}/health`)).rejects.toThrow();
  });
});

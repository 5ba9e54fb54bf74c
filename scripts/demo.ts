import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../src/node-flags';
import { startSimulator } from '../sim/wppconnect-simulator';

/**
 * `npm run demo`: the WPPConnect simulator and the gateway together on free local ports with a generated secret.
 * The gateway runs as its own process, exactly as in production (`npm start`: node with the flags of src/node-flags.ts,
 * dist/src/main.js); its JSON logs go to a file so this terminal stays readable.
 */

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '../..');
  const engineSecret = crypto.randomBytes(12).toString('hex');
  const secret = crypto.randomBytes(32).toString('hex');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wpp-gateway-demo-'));
  const logFile = path.join(dataDir, 'gateway.log');
  const sim = await startSimulator({ secretKey: engineSecret, qrDelayMs: 1500, autoCloseMs: 180_000 });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = fs.openSync(logFile, 'a');
  const gateway = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, path.join(root, 'dist/src/main.js')], {
    // Not the checkout: main.ts reads ./.env, and an operator's .env (WEBHOOK_URL…) must not leak into the demo.
    cwd: dataDir,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_SECRET: secret,
      GATEWAY_PUBLIC_URL: url,
      WPPCONNECT_URL: sim.url,
      WPPCONNECT_SECRET_KEY: engineSecret,
      DATA_DIR: dataDir,
      CREATE_WAIT_MS: '8000',
    },
    stdio: ['ignore', log, log],
  });
  const stop = async (code: number) => {
    // The gateway drains and exits on its own signal handler; wait for it so no orphan keeps the port.
    const exited = new Promise<void>((resolve) => {
      if (gateway.exitCode !== null || gateway.signalCode !== null) resolve();
      else gateway.once('exit', () => resolve());
    });
    gateway.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    await sim.close().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  gateway.on('exit', (code) => {
    if (code !== 0 && code !== null) {
      process.stderr.write(`gateway exited with code ${code}; see ${logFile}\n`);
      void stop(1);
    }
  });

  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${url}/health`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const h = `-H 'X-Gateway-Secret: ${secret}' -H 'Content-Type: application/json'`;
  process.stdout.write(
    [
      '',
      'WPPConnect gateway demo is running.',
      '',
      `  Gateway:           ${url}`,
      `  Operator page:     ${url}/ui   (log in with the secret below)`,
      `  Gateway secret:    ${secret}`,
      `  Simulated engine:  ${sim.url}   (WPPConnect Server API + /_sim controls)`,
      `  Data and logs:     ${dataDir}`,
      '',
      'Try it:',
      `  curl -s ${h} -X POST ${url}/api/channels -d '{"channel":"demo"}'`,
      `  curl -s ${h} ${url}/api/channels/demo/qr`,
      `  curl -s -X POST ${sim.url}/_sim/sessions/demo/scan          # the phone scans the QR`,
      `  curl -s ${h} ${url}/api/channels`,
      `  curl -s ${h} -X POST ${url}/api/messages -d '{"channel":"demo","to":"5511999999999","text":"hi"}'`,
      `  curl -s ${h} -X DELETE ${url}/api/channels/demo`,
      `  GATEWAY_URL=${url} GATEWAY_SECRET=${secret} npm run cli -- channels`,
      `  curl -s -H 'Authorization: Bearer ${secret}' ${url}/metrics | grep wppgw_channels`,
      '',
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
}

void main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${String(error)}\n`);
  process.exit(1);
});

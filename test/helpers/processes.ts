import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitUntil } from '../../bench/children';

export const ROOT = path.resolve(__dirname, '../..');
export const GATEWAY_MAIN = path.join(ROOT, 'dist/src/main.js');

// One implementation with the benchmark's (bench/children.ts is built into dist/, test/ is not).
export { freePort } from '../../bench/children';

/** Polls `probe` every 100 ms until it returns a truthy value or `timeoutMs` passes (then throws naming `what`). */
export function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  what = 'condition',
): Promise<T> {
  return waitUntil(what, probe, timeoutMs, 100);
}

export interface GatewayProcess {
  url: string;
  port: number;
  secret: string;
  dataDir: string;
  proc: ChildProcess;
  output: () => string;
  /** Fetch with the gateway secret. */
  api(
    method: string,
    pathName: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; ms: number }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the built gateway (`dist/src/main.js`) as a child process with the given environment. */
export async function startGatewayProcess(
  env: Record<string, string>,
  options: { dataDir?: string; port?: number } = {},
): Promise<GatewayProcess> {
  if (!fs.existsSync(GATEWAY_MAIN))
    throw new Error(`${GATEWAY_MAIN} is missing: run npm run build first (npm test does)`);
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gw-e2e-'));
  const secret = env.GATEWAY_SECRET ?? 'e2e-secret-0123456789abcdef0123456789';
  const proc = spawn(process.execPath, [GATEWAY_MAIN], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_SECRET: secret,
      GATEWAY_PUBLIC_URL: `http://127.0.0.1:${port}`,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => (out += d.toString()));
  proc.stderr?.on('data', (d) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  // A gateway that exits while starting (a bad configuration, a store it cannot open) fails the start at once
  // ('close': its output is complete then).
  const fail = (reject: (error: Error) => void) => () =>
    reject(new Error(`gateway exited ${proc.exitCode}: ${out.slice(-2000)}`));
  let failed: (() => void) | undefined;
  const early = new Promise<never>((_, reject) => proc.once('close', (failed = fail(reject))));
  early.catch(() => undefined); // raced below; a later exit (a normal stop) must not be an unhandled rejection
  try {
    await Promise.race([
      early,
      waitFor(
        async () => {
          const res = await fetch(`${url}/health`).catch(() => undefined);
          return res?.ok;
        },
        15_000,
        'the gateway /health',
      ),
    ]);
  } finally {
    proc.off('close', failed!);
  }
  return {
    url,
    port,
    secret,
    dataDir,
    proc,
    output: () => out,
    async api(method, pathName, body, headers = {}) {
      const started = Date.now();
      const res = await fetch(`${url}${pathName}`, {
        method,
        headers: { 'X-Gateway-Secret': secret, 'Content-Type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // leave as text; tests assert JSON where it matters
      }
      return { status: res.status, body: parsed, ms: Date.now() - started };
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
  };
}

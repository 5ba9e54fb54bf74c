import fs from 'node:fs';
import http from 'node:http';
import autocannon from 'autocannon';

/** Load generation and statistics for `npm run bench`: autocannon runs, one-at-a-time timing, percentiles. */

// sleep and waitUntil live in children.ts (no autocannon), where the tests' helpers reach them too.
export { sleep, waitUntil } from './children';

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface LoadResult {
  /** 2xx answers per second over the run. */
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds; ignored when `amount` is set. */
  duration?: number;
  amount?: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** A fresh X-Request-Id per request with this prefix, as the Hub sends one per send. */
  requestIdPrefix?: string;
  timeoutS?: number;
}

let requestSeq = 0;

/** One autocannon run (in this process), bounded by its duration or amount and its per-request timeout. */
export async function cannon(options: LoadOptions): Promise<LoadResult> {
  const prefix = options.requestIdPrefix;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    ...(options.amount ? { amount: options.amount } : { duration: options.duration ?? 5 }),
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    timeout: options.timeoutS ?? 10,
    ...(prefix
      ? {
          requests: [
            {
              setupRequest: (req: autocannon.Request) => ({
                ...req,
                headers: { ...req.headers, 'X-Request-Id': `${prefix}-${requestSeq++}` },
              }),
            },
          ],
        }
      : {}),
  });
  return {
    rps: result['2xx'] / result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
  };
}

/** A keep-alive client of one socket: requests one at a time, as a caller that waits for each answer. */
export class SerialClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly base: string) {}

  /** Resolves with the status once the whole answer was read; rejects on a non-2xx or after `timeoutMs`. */
  request(
    method: string,
    path: string,
    body?: Buffer,
    headers: Record<string, string> = {},
    timeoutMs = 30_000,
  ): Promise<number> {
    const url = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method,
          agent: this.agent,
          timeout: timeoutMs,
          headers: {
            ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(body.length) } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            res.statusCode && res.statusCode < 300
              ? resolve(res.statusCode)
              : reject(
                  new Error(
                    `HTTP ${res.statusCode} on ${method} ${path}: ${Buffer.concat(chunks).toString().slice(0, 300)}`,
                  ),
                ),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `fn` `warmup` times untimed, then `runs` times; returns each run's duration in ms. */
export async function timeEach(runs: number, warmup: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await fn(i);
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return samples;
}

/** JSON over fetch with a deadline; `status` 0 when there was no answer. */
/** Connections the kernel dropped since boot because a listen queue was full (TcpExt ListenOverflows), or null. */
export function listenOverflows(): number | null {
  try {
    const [names, values] = fs
      .readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('TcpExt:'))
      .map((line) => line.split(/\s+/));
    const at = names.indexOf('ListenOverflows');
    return at > 0 ? Number(values[at]) : null;
  } catch {
    return null;
  }
}

export async function fetchJson(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number } = {},
): Promise<{ status: number; body: Record<string, unknown>; bytes: number }> {
  try {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: { 'Content-Type': 'application/json', ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(init.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { text };
    }
    return { status: res.status, body, bytes: Buffer.byteLength(text) };
  } catch (error) {
    return { status: 0, body: { error: String(error) }, bytes: 0 };
  }
}

/** Runs `worker` over `items` with at most `concurrency` at once. */
export async function pool<T>(items: T[], concurrency: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await worker(items[next++]);
    }),
  );
}

import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { buildGateway } from '../src/gateway';
import { createRequestContext, createSilentLogger } from '../src/logger';

/**
 * Intake → durable outbox → delivered, against the same local receiver fed directly (the baseline), in one run.
 * Prints events/s and per-event latency p50/p99 for both, and the ratios. Bounded: N events, then it stops.
 */

const N = Number(process.env.BENCH_EVENTS ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function payload(i: number): string {
  return JSON.stringify({
    event: 'onmessage',
    session: 'bench',
    id: `false_5511900000000@c.us_3EB0${i.toString(16).padStart(16, '0')}`,
    type: 'chat',
    body: `message ${i}`,
    t: Math.floor(Date.now() / 1000),
    from: '5511900000000@c.us',
    to: '5511999990000@c.us',
    fromMe: false,
    notifyName: 'Bench',
    isGroupMsg: false,
  });
}

async function post(url: string, body: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  if (!res.ok) throw new Error(`POST ${url} → ${res.status}`);
  await res.arrayBuffer();
}

async function run(
  label: string,
  send: (i: number) => Promise<void>,
  arrivals: Map<number, number>,
): Promise<{ eps: number; p50: number; p99: number }> {
  const sentAt = new Map<number, number>();
  const started = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        const i = next++;
        sentAt.set(i, Date.now());
        await send(i);
      }
    }),
  );
  const deadline = Date.now() + 60_000;
  while (arrivals.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const elapsed = (Math.max(...arrivals.values()) - started) / 1000;
  const latencies = [...arrivals.entries()].map(([i, at]) => at - (sentAt.get(i) ?? at));
  const result = { eps: arrivals.size / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  console.log(
    `${label.padEnd(28)} ${result.eps.toFixed(0).padStart(7)} events/s   p50 ${result.p50} ms   p99 ${result.p99} ms   (${arrivals.size}/${N} arrived)`,
  );
  return result;
}

async function main(): Promise<void> {
  let arrivals = new Map<number, number>();
  const receiver = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const m = /3EB0([0-9a-f]{16})/.exec(raw);
      if (m) arrivals.set(parseInt(m[1], 16), Date.now());
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"success":true}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hub`;

  // Baseline: the same receiver fed directly.
  const baseline = await run('baseline (direct to receiver)', (i) => post(receiverUrl, payload(i)), arrivals);

  // Through the gateway: engine-event intake → SQLite outbox → delivery worker → receiver.
  arrivals = new Map();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-bench-'));
  const config = loadConfig({
    GATEWAY_SECRET: 'bench-secret-0123456789abcdef',
    WPPCONNECT_SECRET_KEY: 'unused',
    WPPCONNECT_URL: 'http://127.0.0.1:9',
    DATA_DIR: dataDir,
    ADOPT_INTERVAL_MS: '0',
    WEBHOOK_URL: receiverUrl,
    LOG_LEVEL: 'error',
  });
  const gateway = buildGateway({ config, logger: createSilentLogger(), context: createRequestContext() });
  const server = gateway.app.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  await gateway.start().catch(() => undefined);
  const record = gateway.repo.create('bench', { status: 'connected' });
  const intake = `http://127.0.0.1:${(server.address() as AddressInfo).port}/engine-events/bench/${record.intakeToken}`;
  const through = await run('gateway (intake→outbox→hub)', (i) => post(intake, payload(i)), arrivals);

  console.log(
    `ratio gateway/baseline: throughput ${(through.eps / baseline.eps).toFixed(2)}x, p50 latency ${(through.p50 / Math.max(1, baseline.p50)).toFixed(1)}x, p99 latency ${(through.p99 / Math.max(1, baseline.p99)).toFixed(1)}x`,
  );
  server.closeAllConnections();
  server.close();
  await gateway.stop();
  receiver.closeAllConnections();
  receiver.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

import { fork } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { TokenStore } from '../src/adapters/engine-adapter';
import { WppconnectAdapter } from '../src/adapters/wppconnect/wppconnect-adapter';
import { createRequestContext, createSilentLogger } from '../src/logger';
import { errorMiddleware } from '../src/middleware/error-middleware';
import { requestIdMiddleware } from '../src/middleware/request-id-middleware';
import { createIdempotency } from '../src/messages/idempotency';
import { createMessageService } from '../src/messages/send-message';
import { createMessagesRouter } from '../src/routes/messages-router';
import { openDatabase } from '../src/store/database';

/**
 * Gateway overhead on POST /api/messages against calling a stand-in engine directly, in one run:
 *   - text sends: median and p99 latency, gateway vs direct;
 *   - 16 MB voice notes (OGG, ~22 MB of base64 JSON): median and p99 latency, gateway vs direct;
 *   - peak RSS while sending the 16 MB voice notes, each path measured in a fresh child process so one path's peak
 *     cannot hide the other's.
 * Everything runs on 127.0.0.1 in-process (stand-in engine, gateway with the real adapter, client). Bounded: fixed run
 * counts, then it stops. Run with `npm run build && node dist/bench/messages-bench.js`.
 */

const TEXT_RUNS = Number(process.env.BENCH_TEXT_RUNS ?? 300);
const AUDIO_RUNS = Number(process.env.BENCH_AUDIO_RUNS ?? 12);
const RSS_RUNS = Number(process.env.BENCH_RSS_RUNS ?? 4);
const AUDIO_BYTES = 16 * 1024 * 1024;
const SESSION = 'bench';
const SECRET = 'bench-secret';

interface Stats {
  median: number;
  p99: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  return { median: at(50), p99: at(99) };
}

/** A stand-in WPPConnect: generate-token, and 201 with a `response` array for every send (after parsing the JSON). */
function startStandIn(): Promise<http.Server> {
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      res.setHeader('Content-Type', 'application/json');
      if (url.endsWith('/generate-token')) {
        res
          .writeHead(201)
          .end(JSON.stringify({ status: 'success', session: SESSION, token: 'T', full: `${SESSION}:T` }));
        return;
      }
      // Parse like the engine does, so both paths pay the same engine-side cost.
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { phone?: string };
      const id = `true_${body.phone ?? '0'}@c.us_3EB0${(n++).toString(16).padStart(16, '0')}`;
      res.writeHead(201).end(JSON.stringify({ status: 'success', response: [{ ack: 1, id }], mapper: 'return' }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The gateway's messaging pieces as app.ts mounts them, with the real WPPConnect adapter. */
function startGateway(engineUrl: string): Promise<{ server: http.Server; close(): void }> {
  const logger = createSilentLogger();
  const context = createRequestContext();
  const db = openDatabase(':memory:');
  const tokenMap = new Map<string, string>();
  const tokens: TokenStore = {
    get: (s) => tokenMap.get(s),
    set: (s, t) => void tokenMap.set(s, t),
    delete: (s) => void tokenMap.delete(s),
  };
  const engine = new WppconnectAdapter({
    baseUrl: engineUrl,
    secretKey: SECRET,
    requestTimeoutMs: 30_000,
    tokens,
    logger,
    context,
  });
  const messages = createMessageService({
    engine,
    channels: {
      resolve: (id) => id.toLowerCase(),
      requireConnected: () => undefined,
      reportNotActive: () => undefined,
    },
    idempotency: createIdempotency({ db, windowMs: 3_600_000 }),
    config: {
      messages: {
        sendDeadlineMs: 30_000,
        ffmpegPath: 'ffmpeg',
        ffmpegTimeLimitMs: 15_000,
        idempotencyWindowMs: 3_600_000,
      },
    },
    logger,
  });
  const app = express();
  app.use(requestIdMiddleware(context));
  app.use('/api/messages', express.json({ limit: 80 * 1024 * 1024 }));
  app.use('/api', createMessagesRouter({ messages, logger }));
  app.use(errorMiddleware(logger));
  const server = http.createServer(app);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        close: () => {
          server.close();
          db.close();
        },
      }),
    ),
  );
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** POST a prepared body; resolves when the whole reply is read. */
function post(port: number, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode && res.statusCode < 300
            ? resolve(res.statusCode)
            : reject(new Error(`HTTP ${res.statusCode} on ${path}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function time(runs: number, warmup: number, fn: () => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return stats(samples);
}

function audioBase64(): string {
  const bytes = crypto.randomBytes(AUDIO_BYTES);
  bytes.write('OggS', 0, 'latin1');
  return bytes.toString('base64');
}

interface Bodies {
  gatewayText: Buffer;
  directText: Buffer;
  gatewayAudio: Buffer;
  directAudio: Buffer;
}

function bodies(audio: string): Bodies {
  const to = '5511999999999';
  return {
    gatewayText: Buffer.from(
      JSON.stringify({ channel: SESSION, to, text: 'Olá! Sua fatura vence amanhã.', metadata: { sent_by: 1 } }),
    ),
    directText: Buffer.from(JSON.stringify({ phone: to, isGroup: false, message: 'Olá! Sua fatura vence amanhã.' })),
    gatewayAudio: Buffer.from(JSON.stringify({ channel: SESSION, to, type: 'audio', base64Ptt: audio })),
    directAudio: Buffer.from(
      JSON.stringify({ phone: to, isGroup: false, base64Ptt: `data:audio/ogg;base64,${audio}` }),
    ),
  };
}

async function setUp() {
  const standIn = await startStandIn();
  const enginePort = (standIn.address() as AddressInfo).port;
  const gateway = await startGateway(`http://127.0.0.1:${enginePort}`);
  const gatewayPort = (gateway.server.address() as AddressInfo).port;
  let seq = 0;
  // A fresh X-Request-Id per send, as the Hub does: the gateway then hashes the payload and writes an idempotency row.
  const viaGateway = (body: Buffer) =>
    post(gatewayPort, '/api/messages', body, { 'X-Request-Id': `bench-${process.pid}-${seq++}` });
  const direct = (body: Buffer, route: string) =>
    post(enginePort, `/api/${SESSION}/${route}`, body, { Authorization: 'Bearer T' });
  return {
    viaGateway,
    direct,
    close() {
      gateway.close();
      standIn.close();
      agent.destroy();
    },
  };
}

/** Child mode: send the 16 MB voice note RSS_RUNS times through one path and report peak RSS. */
async function rssChild(mode: 'gateway' | 'direct'): Promise<void> {
  const audio = audioBase64();
  const b = bodies(audio);
  const env = await setUp();
  // One text send each way so lazy initialisation (token, sockets) is not counted as the audio's peak.
  await env.viaGateway(b.gatewayText);
  await env.direct(b.directText, 'send-message');
  // Collect first so both children start from the same settled heap (gc is exposed by the parent's fork).
  (globalThis as { gc?: () => void }).gc?.();
  const idle = process.memoryUsage().rss;
  let sampled = idle;
  const sampler = setInterval(() => (sampled = Math.max(sampled, process.memoryUsage().rss)), 2);
  for (let i = 0; i < RSS_RUNS; i++) {
    if (mode === 'gateway') await env.viaGateway(b.gatewayAudio);
    else await env.direct(b.directAudio, 'send-voice-base64');
    sampled = Math.max(sampled, process.memoryUsage().rss);
  }
  clearInterval(sampler);
  const peak = Math.max(sampled, process.resourceUsage().maxRSS * 1024);
  env.close();
  process.send?.({ idle, peak });
}

function measureRssInChild(mode: 'gateway' | 'direct'): Promise<{ idle: number; peak: number }> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--rss-child', mode], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--expose-gc'],
    });
    let result: { idle: number; peak: number } | undefined;
    child.on('message', (m) => (result = m as { idle: number; peak: number }));
    child.on('error', reject);
    child.on('exit', (code) =>
      result ? resolve(result) : reject(new Error(`RSS child (${mode}) exited with ${code}`)),
    );
  });
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ms = (v: number) => `${v.toFixed(2)} ms`;

async function main(): Promise<void> {
  console.log(
    `messages bench: ${TEXT_RUNS} text sends, ${AUDIO_RUNS} × 16 MB voice notes, RSS over ${RSS_RUNS} sends per path`,
  );
  const audio = audioBase64();
  const b = bodies(audio);
  console.log(
    `16 MB voice note: ${mb(b.gatewayAudio.length)} of JSON to the gateway, ${mb(b.directAudio.length)} direct`,
  );
  const env = await setUp();

  const directText = await time(TEXT_RUNS, 30, () => env.direct(b.directText, 'send-message'));
  const gatewayText = await time(TEXT_RUNS, 30, () => env.viaGateway(b.gatewayText));
  const directAudio = await time(AUDIO_RUNS, 2, () => env.direct(b.directAudio, 'send-voice-base64'));
  const gatewayAudio = await time(AUDIO_RUNS, 2, () => env.viaGateway(b.gatewayAudio));
  env.close();

  const rssDirect = await measureRssInChild('direct');
  const rssGateway = await measureRssInChild('gateway');

  const row = (label: string, direct: Stats, gateway: Stats) =>
    console.log(
      `${label.padEnd(14)} direct median ${ms(direct.median)} p99 ${ms(direct.p99)} | gateway median ${ms(gateway.median)} p99 ${ms(gateway.p99)} | ` +
        `ratio median ${(gateway.median / direct.median).toFixed(2)}× p99 ${(gateway.p99 / direct.p99).toFixed(2)}× | ` +
        `overhead median +${ms(gateway.median - direct.median)}`,
    );
  row('text', directText, gatewayText);
  row('16 MB audio', directAudio, gatewayAudio);
  const growthDirect = rssDirect.peak - rssDirect.idle;
  const growthGateway = rssGateway.peak - rssGateway.idle;
  console.log(
    `peak RSS (16 MB audio)  direct ${mb(rssDirect.peak)} (+${mb(growthDirect)} over idle) | gateway ${mb(rssGateway.peak)} (+${mb(growthGateway)} over idle) | ` +
      `ratio peak ${(rssGateway.peak / rssDirect.peak).toFixed(2)}× growth ${(growthGateway / Math.max(1, growthDirect)).toFixed(2)}×`,
  );
  console.log(
    '(both paths include the client and the stand-in engine in the same process; the gateway adds its own parse, validation, hash and re-serialisation)',
  );
}

const childIndex = process.argv.indexOf('--rss-child');
const run = childIndex >= 0 ? rssChild(process.argv[childIndex + 1] === 'gateway' ? 'gateway' : 'direct') : main();
run.catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

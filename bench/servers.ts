import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axios from 'axios';
import express from 'express';

/**
 * The baselines of `npm run bench`, each in its own process (so CPU and RSS are measured the same way as the
 * gateway's, by bench/probe.ts): `node dist/bench/servers.js <mode> [<json>]`, announcing `{ready: true, url}` over IPC.
 *
 * - `express <json>`: a minimal Express 5 app answering `GET /api/channels/:id` with that JSON (what the gateway
 *   answers), nothing else: the framework's own floor.
 * - `http <json>`: the same answer from bare node:http, the limit for this machine.
 * - `relay <json>` (`{target, authorization}`): the house stack with nothing else (house style H12/H13): Express 5,
 *   its JSON parser and one axios instance with kept-alive connections, relaying a text send (`POST /api/messages`) to
 *   the engine's send-message and answering its message id: the floor of a send path built this way.
 * - `relay-http <json>`: the same relay in bare node:http on both sides (kept-alive engine connections): the cost of
 *   the extra loopback hop alone, the limit for a gateway's added latency on this machine.
 * - `receiver`: a Hub that answers 200 to every POST and records the events it got (`arrivals`, with each
 *   channel's order when `full`): the channel and
 *   sequence number are read from the message id the bench put in each event (`…_3EB0<channel:4 hex><seq:12 hex>`).
 * - `intake-express` and `intake-http`: an engine-webhook receiver with nothing else, as minimal Express 5 (its JSON
 *   parser on `POST /engine-events/:channel/:token`) and as bare node:http (read, JSON.parse), each answering what the
 *   gateway answers (`{"success":true}`): what receiving case 5's QR webhooks costs before any gateway work. Counted in
 *   `arrivals().total`.
 * - `standin`: an engine stand-in that parses a send's JSON body as the engine does and answers 201: the least a
 *   process must grow to take a 16 MB voice note.
 */

const [mode, json] = [process.argv[2], process.argv[3] ?? '{}'];

const ID_RE = /3EB0([0-9a-f]{4})([0-9a-f]{12})/;

interface Arrivals {
  total: number;
  firstAt: number | null;
  lastAt: number | null;
  seen: Set<string>;
  perChannel: Map<number, number[]>;
}

const freshArrivals = (): Arrivals => ({
  total: 0,
  firstAt: null,
  lastAt: null,
  seen: new Set(),
  perChannel: new Map(),
});
let arrivals = freshArrivals();

function readBody(req: http.IncomingMessage, done: (raw: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => done(Buffer.concat(chunks)));
}

function createServer(): http.Server {
  switch (mode) {
    case 'express': {
      const body = JSON.parse(json) as unknown;
      const app = express();
      app.get('/api/channels/:id', (_req, res) => {
        res.json(body);
      });
      return http.createServer(app);
    }
    case 'http': {
      const body = JSON.parse(json) as unknown;
      return http.createServer((req, res) => {
        const text = JSON.stringify(body);
        res.writeHead(200, {
          'Content-Type': 'application/json; charset=utf-8',
          'Content-Length': Buffer.byteLength(text),
        });
        res.end(text);
      });
    }
    case 'receiver':
      return http.createServer((req, res) => {
        readBody(req, (raw) => {
          const m = ID_RE.exec(raw.toString('latin1'));
          if (m) {
            const at = Date.now();
            const a = arrivals;
            a.total++;
            a.firstAt ??= at;
            a.lastAt = at;
            const key = m[1] + m[2];
            if (!a.seen.has(key)) {
              a.seen.add(key);
              const channel = parseInt(m[1], 16);
              let order = a.perChannel.get(channel);
              if (!order) a.perChannel.set(channel, (order = []));
              order.push(parseInt(m[2], 16));
            }
          }
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end('{"success":true}');
        });
      });
    case 'relay': {
      const { target, authorization } = JSON.parse(json) as { target: string; authorization: string };
      const engine = axios.create({
        baseURL: target,
        timeout: 10_000,
        headers: { Authorization: authorization },
        httpAgent: new http.Agent({ keepAlive: true }),
      });
      const app = express();
      app.use(express.json());
      app.post('/api/messages', async (req, res) => {
        const body = req.body as { channel: string; to: string; text: string };
        const answer = await engine.post<{ response?: Array<{ id?: string }> }>(`/api/${body.channel}/send-message`, {
          phone: body.to,
          isGroup: false,
          message: body.text,
        });
        res.json({ success: true, messageId: answer.data.response?.[0]?.id ?? null });
      });
      return http.createServer(app);
    }
    case 'relay-http': {
      // The same relay with bare node:http on both sides: what one more loopback hop costs here, with no framework.
      const { target, authorization } = JSON.parse(json) as { target: string; authorization: string };
      const engine = new URL(target);
      const agent = new http.Agent({ keepAlive: true });
      return http.createServer((req, res) => {
        readBody(req, (raw) => {
          const body = JSON.parse(raw.toString('utf8')) as { channel: string; to: string; text: string };
          const payload = JSON.stringify({ phone: body.to, isGroup: false, message: body.text });
          const out = http.request(
            {
              host: engine.hostname,
              port: engine.port,
              path: `/api/${body.channel}/send-message`,
              method: 'POST',
              agent,
              headers: {
                Authorization: authorization,
                'Content-Type': 'application/json',
                'Content-Length': Buffer.byteLength(payload),
              },
            },
            (answer) =>
              readBody(answer, (text) => {
                const parsed = JSON.parse(text.toString('utf8')) as { response?: Array<{ id?: string }> };
                const reply = JSON.stringify({ success: true, messageId: parsed.response?.[0]?.id ?? null });
                res.writeHead(200, {
                  'Content-Type': 'application/json; charset=utf-8',
                  'Content-Length': Buffer.byteLength(reply),
                });
                res.end(reply);
              }),
          );
          out.on('error', () => {
            res.writeHead(502);
            res.end();
          });
          out.end(payload);
        });
      });
    }
    case 'intake-express': {
      const app = express();
      app.post('/engine-events/:channel/:token', express.json({ limit: '100mb' }), (_req, res) => {
        arrivals.total++;
        res.json({ success: true });
      });
      return http.createServer(app);
    }
    case 'intake-http':
      return http.createServer((req, res) => {
        readBody(req, (raw) => {
          JSON.parse(raw.toString('utf8'));
          arrivals.total++;
          res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end('{"success":true}');
        });
      });
    case 'standin': {
      let n = 0;
      return http.createServer((req, res) => {
        readBody(req, (raw) => {
          // Parse like the engine does, so the process pays for the whole body.
          const body = JSON.parse(raw.toString('utf8')) as { phone?: string };
          const id = `true_${body.phone ?? '0'}@c.us_3EB0${(n++).toString(16).padStart(16, '0')}`;
          res.writeHead(201, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ status: 'success', response: [{ ack: 1, id }], mapper: 'return' }));
        });
      });
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

const server = createServer();
server.keepAliveTimeout = 5_000;

process.on('message', (raw: unknown) => {
  const msg = raw as { cmd?: string; rpcId?: number; full?: boolean };
  if (!msg || typeof msg.cmd !== 'string') return;
  let result: unknown = null;
  if (msg.cmd === 'arrivals') {
    const a = arrivals;
    result = {
      total: a.total,
      unique: a.seen.size,
      firstAt: a.firstAt,
      lastAt: a.lastAt,
      // The order of each channel's events only when asked (it is the large part).
      ...(msg.full ? { perChannel: Object.fromEntries(a.perChannel) } : {}),
    };
  } else if (msg.cmd === 'reset') {
    arrivals = freshArrivals();
  } else {
    process.send?.({ rpcId: msg.rpcId, error: `unknown command ${msg.cmd}` });
    return;
  }
  process.send?.({ rpcId: msg.rpcId, result });
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// The gateway's listen queue (LISTEN_BACKLOG's default), so a burst of new connections meets the same queue here.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ ready: true, url: `http://127.0.0.1:${port}` });
});

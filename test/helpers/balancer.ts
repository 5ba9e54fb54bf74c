import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Balancer {
  url: string;
  /** Calls forwarded to each backend (by its URL). */
  counts: Map<string, number>;
  close(): Promise<void>;
}

/**
 * A round-robin HTTP balancer in front of several gateway instances, as nginx with `proxy_next_upstream error` would be:
 * a backend that refuses the connection, or drops it before answering, is skipped and the call goes to the next one.
 * The engines post their events here (GATEWAY_PUBLIC_URL), so an instance that dies does not take events with it.
 */
export async function startBalancer(backends: string[]): Promise<Balancer> {
  let next = 0;
  const counts = new Map<string, number>();
  const downUntil = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const started = Date.now();
      const attempt = (tried: number) => {
        if (Date.now() - started > 10_000) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ success: false, error: { code: 'NO_BACKEND' } }));
          return;
        }
        // As nginx's max_fails/fail_timeout: a backend that failed is skipped for a while (all down: try anyway).
        const up = backends.filter((b) => (downUntil.get(b) ?? 0) <= Date.now());
        const pool = up.length > 0 ? up : backends;
        const backend = pool[next++ % pool.length];
        const headers = { ...req.headers };
        delete headers.host;
        const upstream = http.request(
          new URL(req.url ?? '/', backend),
          { method: req.method, headers, agent: false },
          (reply) => {
            counts.set(backend, (counts.get(backend) ?? 0) + 1);
            res.writeHead(reply.statusCode ?? 502, reply.headers);
            reply.pipe(res);
          },
        );
        upstream.on('error', () => {
          downUntil.set(backend, Date.now() + 2_000);
          if (res.headersSent) res.destroy();
          else setTimeout(() => attempt(tried + 1), 50);
        });
        upstream.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

/** The outgoing side of webhook delivery: one POST, a per-attempt timeout, and an outcome we can classify. */
export interface WebhookResponse {
  status: number;
  retryAfterSeconds?: number;
  /** The Location of a 3xx answer (never followed). */
  location?: string;
  /** The start of the body, as text (at most `maxResponseBytes` are read). */
  bodySnippet: string;
}

export interface WebhookClient {
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<WebhookResponse>;
  /** Closes idle keep-alive connections. */
  close?(): void;
}

/**
 * `timeout` and `network` failures may pass; `refused` ones will not: the target resolved to an address the gateway
 * does not send to (or the URL is not one it can send to).
 */
export class WebhookNetworkError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'refused',
  ) {
    super(message);
    this.name = 'WebhookNetworkError';
  }
}

export type ResolveHost = (hostname: string, family: 0 | 4 | 6) => Promise<dns.LookupAddress[]>;

export interface HttpWebhookClientOptions {
  /**
   * Why the gateway must not connect to this IP address, or null when it may. Asked for a literal IP in the URL and
   * for every address a host name resolves to, right before connecting (so a name cannot be re-pointed between a
   * check and the connection).
   * @default nothing is refused
   */
  refuseAddress?: (address: string) => string | null;
  /**
   * Bytes of a subscriber's answer that are read; the rest is discarded and the connection closed.
   * @default 65536
   */
  maxResponseBytes?: number;
  /**
   * Name resolution (tests point names at local receivers).
   * @default dns.promises.lookup with all addresses
   */
  resolve?: ResolveHost;
}

const REFUSED = 'WEBHOOK_TARGET_REFUSED';
const defaultResolve: ResolveHost = (hostname, family) => dns.promises.lookup(hostname, { all: true, family });

/**
 * Plain node:http(s), not axios: redirects are never followed (a 3xx could send our signed body elsewhere), the answer
 * is read up to a cap whatever its Content-Length, and connections go through a lookup that refuses forbidden
 * addresses.
 */
export function createHttpWebhookClient(options: HttpWebhookClientOptions = {}): WebhookClient {
  const refuseAddress = options.refuseAddress ?? (() => null);
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024;
  const resolve = options.resolve ?? defaultResolve;
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

  const lookup: net.LookupFunction = (hostname, lookupOptions, callback) => {
    const family = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : 0;
    resolve(hostname, family).then(
      (addresses) => {
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        // One forbidden address is enough to refuse: a name that also points at metadata is not a Hub.
        for (const { address } of addresses) {
          const reason = refuseAddress(address);
          if (reason) {
            callback(Object.assign(new Error(`${hostname} resolves to ${reason}`), { code: REFUSED }), '', 0);
            return;
          }
        }
        if (lookupOptions.all) callback(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };

  return {
    post(url, body, headers, timeoutMs) {
      return new Promise<WebhookResponse>((resolvePost, reject) => {
        let target: URL;
        try {
          target = new URL(url);
        } catch {
          reject(new WebhookNetworkError(`not a URL: ${url}`, 'refused'));
          return;
        }
        if (target.protocol !== 'http:' && target.protocol !== 'https:') {
          reject(new WebhookNetworkError(`not an http(s) URL: ${target.protocol}`, 'refused'));
          return;
        }
        const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
        const literal = net.isIP(host) ? refuseAddress(host) : null;
        if (literal) {
          reject(new WebhookNetworkError(`the target is ${literal}`, 'refused'));
          return;
        }

        let settled = false;
        let response: { status: number; headers: http.IncomingHttpHeaders; chunks: Buffer[] } | null = null;
        const answer = () => {
          if (!response) return;
          const { status, headers: h, chunks } = response;
          const retryAfter = Number(h['retry-after']);
          const location = typeof h.location === 'string' ? h.location : undefined;
          settle(() =>
            resolvePost({
              status,
              ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {}),
              ...(location ? { location } : {}),
              bodySnippet: Buffer.concat(chunks).toString('utf8').slice(0, 300),
            }),
          );
        };
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          fn();
        };

        const payload = Buffer.from(body, 'utf8');
        const transport = target.protocol === 'https:' ? https : http;
        const req = transport.request(target, {
          method: 'POST',
          headers: { ...headers, 'Content-Length': String(payload.length) },
          agent: target.protocol === 'https:' ? agents.https : agents.http,
          lookup,
        });
        // One budget for connect, answer and body: a receiver that trickles its body cannot hold a delivery open.
        const timer = setTimeout(() => {
          if (response) answer();
          else settle(() => reject(new WebhookNetworkError(`no answer within ${timeoutMs} ms`, 'timeout')));
          req.destroy();
        }, timeoutMs);

        req.on('error', (error: NodeJS.ErrnoException) => {
          if (response) return answer();
          const code = error.code ?? '';
          const kind = code === REFUSED ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : 'network';
          settle(() =>
            reject(
              new WebhookNetworkError(
                code === REFUSED ? error.message : `${code || 'network error'}: ${error.message}`,
                kind,
              ),
            ),
          );
        });
        req.on('response', (res) => {
          response = { status: res.statusCode ?? 0, headers: res.headers, chunks: [] };
          const chunks = response.chunks;
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            const room = maxResponseBytes - size;
            if (chunk.length <= room) {
              chunks.push(chunk);
              size += chunk.length;
              return;
            }
            // Over the cap: keep what fits, drop the rest and the connection with it.
            if (room > 0) chunks.push(chunk.subarray(0, room));
            size = maxResponseBytes;
            answer();
            res.destroy();
          });
          res.on('end', answer);
          res.on('close', answer);
          res.on('error', answer);
        });
        req.end(payload);
      });
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

import { STATUS_CODES } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/**
 * Fault injection on the engine API (not on `/_sim`, not on the webhooks the simulator sends): what a WPPConnect
 * Server behind a proxy, on a loaded host or mid-crash does to the gateway's calls. A spec selects requests by engine
 * route name or path regex (optionally by method and session, and for a number of requests) and applies one fault.
 */

/** What to do with a selected request. Exactly one per spec. */
export type FaultKind = 'latency' | 'hang' | 'reset' | 'status' | 'html' | 'truncate' | 'contentType';

export const FAULT_KINDS: readonly FaultKind[] = [
  'latency',
  'hang',
  'reset',
  'status',
  'html',
  'truncate',
  'contentType',
];

export interface FaultSpec {
  /**
   * Engine route name(s), as `engineRouteName` spells them: `send-message`, `status-session`, `start-session`,
   * `generate-token`, `healthz`, `get-media-by-message`, `contact/pn-lid`, … Omitted with `path` omitted: every route.
   */
  route?: string | string[];
  /** A regular expression tested against the request path (a string is compiled without flags). */
  path?: string | RegExp;
  /** Only this HTTP method (case-insensitive). */
  method?: string;
  /** Only requests for this engine session. */
  session?: string;
  /** Apply to this many matching requests, then the spec is gone. Omitted: until cleared. */
  times?: number;

  /** Added before the engine handles the request (ms). The engine still does the work when the caller gave up. */
  latency?: number;
  /** Never answer. Held connections are dropped (socket destroyed) by `clearFaults()`, `restartEngine()` or dispose. */
  hang?: boolean;
  /**
   * Destroy the socket instead of answering. `true`/`'before'`: before the engine handles the request (nothing
   * happened); `'after'`: the engine handles it (a send goes out) and the socket is destroyed instead of its answer.
   */
  reset?: boolean | 'before' | 'after';
  /** Answer this 5xx with the engine's own JSON error body for the route (or `body`), without handling the request. */
  status?: number;
  /** The JSON body of a `status` fault, instead of the route's own. */
  body?: unknown;
  /**
   * Answer an nginx error page (text/html) with this status (`true`: 502), without reaching the engine:
   * `<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>`.
   */
  html?: boolean | number;
  /** The engine's real status and headers, then half of its body, then the socket is ended. */
  truncate?: boolean;
  /** The engine's real answer, labelled with this Content-Type instead (e.g. `text/plain`, `text/html`). */
  contentType?: string;
}

/** A spec as the simulator keeps it. */
export interface FaultView {
  id: number;
  kind: FaultKind;
  route: string[] | null;
  path: string | null;
  method: string | null;
  session: string | null;
  /** Requests it still applies to; null: until cleared. */
  remaining: number | null;
  /** Requests it was applied to. */
  hits: number;
  /** The fault's own parameter (ms, status, content type, reset phase). */
  value: number | string | boolean;
}

interface Fault extends FaultView {
  pathRe: RegExp | null;
  body?: unknown;
}

/**
 * The engine route name of a request path: `/api/s1/send-message` → `send-message`, `/api/s1/<secret>/generate-token`
 * → `generate-token`, `/api/<secret>/show-all-sessions` → `show-all-sessions`, `/api/s1/get-media-by-message/<id>` →
 * `get-media-by-message`, `/api/s1/contact/pn-lid/<x>` → `contact/pn-lid`, `/healthz` → `healthz`.
 */
export function engineRouteName(pathName: string): string {
  const parts = pathName.split('/').filter(Boolean);
  if (parts[0] !== 'api') return parts.join('/');
  const rest = parts.slice(1);
  if (rest[rest.length - 1] === 'generate-token') return 'generate-token';
  if (rest.length === 2 && (rest[1] === 'show-all-sessions' || rest[1] === 'start-all')) return rest[1];
  if (rest[1] === 'get-media-by-message') return 'get-media-by-message';
  if (rest[1] === 'contact') return rest.slice(1, 3).join('/');
  return rest.slice(1).join('/');
}

/** The engine session a request is for (`/api/<session>[:<token>]/…`), or null for `/healthz` and the secret routes. */
export function engineSessionOf(pathName: string): string | null {
  const parts = pathName.split('/').filter(Boolean);
  if (parts[0] !== 'api' || parts.length < 3) return null;
  const route = engineRouteName(pathName);
  if (route === 'show-all-sessions' || route === 'start-all') return null;
  return decodeURIComponent(parts[1].split(':')[0]);
}

const SEND_ROUTES = /^send-/;

/** The engine's own JSON body for a 5xx of each route (wppconnect-engine.md §2.2, §2.3; the server's catch blocks). */
export function engineErrorBody(route: string): Record<string, unknown> {
  if (SEND_ROUTES.test(route)) return { status: 'Error', message: 'Erro ao enviar a mensagem.', error: {} };
  switch (route) {
    case 'start-session':
    case 'status-session':
    case 'get-media-by-message':
      // startSession runs getSessionState first; both catch with this body.
      return { status: 'error', message: 'The session is not active', error: { level: 'error' } };
    case 'qrcode-session':
      return { status: 'error', message: 'Error retrieving QRCode', error: {} };
    case 'close-session':
    case 'logout-session':
      return { status: false, message: 'Error closing session', error: { level: 'error' } };
    case 'host-device':
      return { status: 'error', message: 'Erro ao recuperar dados do telefone', error: {} };
    case 'contact/pn-lid':
      return { status: 'error', message: 'Error on get contact by PN-LID', error: {} };
    case 'download-media':
      return { status: 'error', message: 'Decrypt file error', error: {} };
    default:
      return { status: 'error', message: 'Internal server error', error: {} };
  }
}

/** An nginx error page, as a proxy in front of the engine answers for it. */
export function proxyErrorPage(status: number): string {
  const line = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  return `<html><head><title>${line}</title></head><body><center><h1>${line}</h1></center><hr><center>nginx</center></body></html>`;
}

/** Validates a spec (from code or from `POST /_sim/faults`); throws an Error naming what is wrong. */
export function parseFaultSpec(input: unknown, id: number): Fault {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('a fault spec must be an object');
  const spec = input as FaultSpec;
  const kinds = FAULT_KINDS.filter((k) => spec[k] !== undefined && spec[k] !== false);
  if (kinds.length !== 1) {
    throw new Error(`a fault spec needs exactly one of ${FAULT_KINDS.join(', ')}; got ${kinds.join(', ') || 'none'}`);
  }
  const kind = kinds[0];
  let value: number | string | boolean;
  switch (kind) {
    case 'latency':
      if (typeof spec.latency !== 'number' || !Number.isFinite(spec.latency) || spec.latency < 0)
        throw new Error('latency must be a non-negative number of ms');
      value = spec.latency;
      break;
    case 'hang':
      if (spec.hang !== true) throw new Error('hang must be true');
      value = true;
      break;
    case 'reset':
      if (spec.reset !== true && spec.reset !== 'before' && spec.reset !== 'after')
        throw new Error("reset must be true, 'before' or 'after'");
      value = spec.reset === 'after' ? 'after' : 'before';
      break;
    case 'status':
      if (!Number.isInteger(spec.status) || (spec.status as number) < 500 || (spec.status as number) > 599)
        throw new Error('status must be a 5xx');
      value = spec.status as number;
      break;
    case 'html': {
      const status = spec.html === true ? 502 : spec.html;
      if (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599)
        throw new Error('html must be true or an HTTP status');
      value = status as number;
      break;
    }
    case 'truncate':
      if (spec.truncate !== true) throw new Error('truncate must be true');
      value = true;
      break;
    case 'contentType':
      if (typeof spec.contentType !== 'string' || !spec.contentType.trim())
        throw new Error('contentType must be a non-empty string');
      value = spec.contentType;
      break;
  }
  if (spec.body !== undefined && kind !== 'status') throw new Error('body only goes with status');
  if (spec.times !== undefined && (!Number.isInteger(spec.times) || spec.times < 1))
    throw new Error('times must be a positive integer');
  const routes = spec.route === undefined ? null : Array.isArray(spec.route) ? spec.route : [spec.route];
  if (routes && (routes.length === 0 || routes.some((r) => typeof r !== 'string' || !r)))
    throw new Error('route must be a route name or a list of them');
  let pathRe: RegExp | null = null;
  if (spec.path !== undefined) {
    if (spec.path instanceof RegExp) pathRe = spec.path;
    else if (typeof spec.path === 'string') {
      try {
        pathRe = new RegExp(spec.path);
      } catch (error) {
        throw new Error(`path is not a regular expression: ${(error as Error).message}`, { cause: error });
      }
    } else throw new Error('path must be a regular expression or its source');
  }
  return {
    id,
    kind,
    route: routes,
    path: typeof spec.path === 'string' ? spec.path : pathRe ? pathRe.source : null,
    pathRe,
    method: typeof spec.method === 'string' ? spec.method.toUpperCase() : null,
    session: typeof spec.session === 'string' ? spec.session : null,
    remaining: spec.times ?? null,
    hits: 0,
    value,
    ...(spec.body !== undefined ? { body: spec.body } : {}),
  };
}

export interface FaultLayerDeps {
  /** Delays the request by `ms`, then runs `fn`, unless the simulator was disposed meanwhile. */
  delay(ms: number, fn: () => void): void;
  /** Marks the recorded engine call with the fault applied to it. */
  noteFault(res: Response, kind: FaultKind): void;
}

/** The fault layer: a list of specs and the Express middleware that applies them. */
export class FaultLayer {
  private readonly faults: Fault[] = [];
  private nextId = 1;
  /** Requests held by `hang` faults; dropped by clear() and drop(). */
  private readonly hung = new Set<Response>();
  /** Requests waiting out a `latency` fault; dropped by drop() (a restarted or disposed engine). */
  private readonly delayed = new Set<Response>();
  /** Bumped by drop(): delayed requests of an earlier engine process never reach the engine. */
  private generation = 0;

  constructor(private readonly deps: FaultLayerDeps) {}

  add(spec: FaultSpec): FaultView {
    const fault = parseFaultSpec(spec, this.nextId++);
    this.faults.push(fault);
    return view(fault);
  }

  list(): FaultView[] {
    return this.faults.map(view);
  }

  /** Removes every spec (or the one with `id`) and drops the connections held by hang faults. */
  clear(id?: number): void {
    if (id === undefined) this.faults.length = 0;
    else {
      const at = this.faults.findIndex((f) => f.id === id);
      if (at >= 0) this.faults.splice(at, 1);
    }
    if (id === undefined || !this.faults.some((f) => f.kind === 'hang')) destroyAll(this.hung);
  }

  /** The engine process went away: every held or delayed request loses its connection. */
  drop(): void {
    this.generation++;
    destroyAll(this.hung);
    destroyAll(this.delayed);
  }

  /** Takes the first spec matching the request (counting it), or undefined. */
  private take(req: Request): Fault | undefined {
    const route = engineRouteName(req.path);
    const session = engineSessionOf(req.path);
    const fault = this.faults.find(
      (f) =>
        (f.route === null || f.route.includes(route)) &&
        (f.pathRe === null || f.pathRe.test(req.path)) &&
        (f.method === null || f.method === req.method) &&
        (f.session === null || f.session === session),
    );
    if (!fault) return undefined;
    fault.hits++;
    if (fault.remaining !== null) {
      fault.remaining--;
      if (fault.remaining <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
    }
    return fault;
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      if (req.path.startsWith('/_sim')) {
        next();
        return;
      }
      const fault = this.take(req);
      if (!fault) {
        next();
        return;
      }
      this.deps.noteFault(res, fault.kind);
      const route = engineRouteName(req.path);
      switch (fault.kind) {
        case 'latency': {
          // The engine does the work even when the caller gave up meanwhile (a send still goes out); a restarted
          // engine does not.
          const generation = this.generation;
          this.delayed.add(res);
          this.deps.delay(fault.value as number, () => {
            this.delayed.delete(res);
            if (generation === this.generation) next();
          });
          return;
        }
        case 'hang':
          this.hung.add(res);
          res.on('close', () => this.hung.delete(res));
          return;
        case 'reset':
          if (fault.value === 'after') {
            resetInsteadOfAnswer(res);
            next();
          } else req.socket.destroy();
          return;
        case 'status':
          res.status(fault.value as number).json(fault.body ?? engineErrorBody(route));
          return;
        case 'html': {
          const page = proxyErrorPage(fault.value as number);
          res.writeHead(fault.value as number, {
            'Content-Type': 'text/html',
            'Content-Length': Buffer.byteLength(page),
            Server: 'nginx',
          });
          res.end(page);
          return;
        }
        case 'truncate':
          truncateAnswer(res);
          next();
          return;
        case 'contentType':
          relabelAnswer(res, fault.value as string);
          next();
          return;
      }
    };
  }
}

function view(fault: Fault): FaultView {
  return {
    id: fault.id,
    kind: fault.kind,
    route: fault.route ? [...fault.route] : null,
    path: fault.path,
    method: fault.method,
    session: fault.session,
    remaining: fault.remaining,
    hits: fault.hits,
    value: fault.value,
  };
}

function destroyAll(set: Set<Response>): void {
  for (const res of set) if (!res.headersSent) res.destroy();
  set.clear();
}

type EndArgs = [chunk?: unknown, encoding?: unknown, cb?: unknown];

function bodyBuffer(chunk: unknown, encoding: unknown): Buffer {
  if (chunk === undefined || chunk === null || typeof chunk === 'function') return Buffer.alloc(0);
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  return Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
}

/** The engine handles the request; its answer never leaves: the socket is destroyed instead. */
function resetInsteadOfAnswer(res: Response): void {
  const cut = () => {
    res.socket?.destroy();
    return res;
  };
  res.write = (() => (cut(), false)) as unknown as Response['write'];
  res.end = cut as unknown as Response['end'];
}

/**
 * The real status and headers (Content-Length included), half of the body, then the socket is ended: the client sees
 * the connection close mid-body.
 */
function truncateAnswer(res: Response): void {
  const write = res.write.bind(res) as (chunk: Buffer, cb: () => void) => boolean;
  const chunks: Buffer[] = [];
  res.write = ((chunk: unknown, encoding?: unknown) => {
    chunks.push(bodyBuffer(chunk, encoding));
    return true;
  }) as unknown as Response['write'];
  res.end = ((...args: EndArgs) => {
    const [chunk, encoding] = args;
    chunks.push(bodyBuffer(chunk, encoding));
    const body = Buffer.concat(chunks);
    const socket = res.socket;
    write(body.subarray(0, Math.floor(body.length / 2)), () => socket?.end());
    return res;
  }) as unknown as Response['end'];
}

/** The real answer under another Content-Type (also for a handler that calls writeHead with its own headers). */
function relabelAnswer(res: Response, contentType: string): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => Response;
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    const args = rest.filter((a) => a !== undefined);
    const headersAt = args.findIndex((a) => a !== null && typeof a === 'object');
    if (headersAt >= 0) {
      const headers = { ...(args[headersAt] as Record<string, unknown>) };
      for (const key of Object.keys(headers)) if (key.toLowerCase() === 'content-type') delete headers[key];
      args[headersAt] = headers;
    }
    res.setHeader('Content-Type', contentType);
    return writeHead(status, ...args);
  }) as unknown as Response['writeHead'];
}

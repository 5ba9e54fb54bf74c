import type { Request, RequestHandler } from 'express';
import { CHANNEL_STATUSES } from '../channels/channel-status';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineCallRecord } from '../adapters/engine-adapter';
import type { SupervisorCounters } from '../channels/channel-supervisor';
import type { DeliveryOutcome } from '../events/webhook-worker';
import { DEFAULT_ENGINE_ID } from '../config';
import type { OutboxStats } from '../store/outbox-store';

/** Where a request keeps the route template it matched ("/api/channels/:id"). */
const MATCHED = Symbol('matched route');
const capturing = new WeakSet<object>();

/**
 * The route template is taken when the router matches (req.baseUrl is the mount path then): once an error leaves
 * the router, Express restores baseUrl and "/api/channels/:id" would read "/channels/:id". An accessor for `route` on
 * the app's request prototype (Express sets it on every request) sees the match; defined once, not on each request,
 * which cost a property definition per request and left every request object in a slower shape.
 */
function captureRouteTemplates(proto: object): void {
  if (capturing.has(proto)) return;
  capturing.add(proto);
  const VALUE = Symbol('route');
  Object.defineProperty(proto, 'route', {
    configurable: true,
    enumerable: true,
    get(this: Record<symbol, unknown>) {
      return this[VALUE];
    },
    set(this: Record<symbol, unknown> & { baseUrl: string }, value: { path?: unknown } | undefined) {
      this[VALUE] = value;
      if (typeof value?.path === 'string') this[MATCHED] = `${this.baseUrl}${value.path}`;
    },
  });
}

export interface MetricsSources {
  /** Channel statuses from our own state (never an engine call per scrape). */
  channelStatuses(): string[];
  outboxStats(): Promise<OutboxStats>;
  /** The gateway's view of each engine (its circuit, channels, capacity); absent in tests that do not need it. */
  engines?(): Array<{
    id: string;
    capacity: number | null;
    channels: number;
    load: number;
    health: { state: 'closed' | 'open' | 'half-open'; secretKeyAccepted: boolean | null };
  }>;
  /** The limit on background engine work (ENGINE_BACKGROUND_CONCURRENCY); absent in tests that do not need it. */
  background?(): { limit: number; inFlight: number; queued: number; peak: number };
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Prometheus metrics on a registry owned by this gateway instance (no prom-client global registry, house
 * style H5: two gateways in one test process do not share counters). Label values are bounded: routes are
 * Express route templates, engine routes are our fixed route names, reasons are catalog codes.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly engineDuration: Histogram<'engine' | 'route' | 'outcome'>;
  private readonly restarts: Counter<'channel' | 'reason'>;
  private readonly zombies: Counter<'channel' | 'signal'>;
  private readonly deliveries: Counter<'outcome'>;
  private outboxSnapshot: OutboxStats | null = null;

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'wppgw_' });
    this.httpRequests = new Counter({
      name: 'wppgw_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status code',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'wppgw_http_request_duration_seconds',
      help: 'HTTP request latency, by method, route template and status code',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.engineDuration = new Histogram({
      name: 'wppgw_engine_call_duration_seconds',
      help: 'WPPConnect API call latency, by engine, engine route and outcome (ok, http-error, unreachable, timeout, auth-failed)',
      labelNames: ['engine', 'route', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.restarts = new Counter({
      name: 'wppgw_channel_restarts_total',
      help: 'Automatic channel restarts (close, heal, start), by channel and reason code',
      labelNames: ['channel', 'reason'],
      registers,
    });
    this.zombies = new Counter({
      name: 'wppgw_zombie_detections_total',
      help: 'Connected-but-dead sessions detected, by channel and signal',
      labelNames: ['channel', 'signal'],
      registers,
    });
    this.deliveries = new Counter({
      name: 'wppgw_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by outcome (delivered, retry, dead, paused)',
      labelNames: ['outcome'],
      registers,
    });
    new Gauge({
      name: 'wppgw_engine_up',
      help: 'The engine answers (1) or the circuit to it is open (0), by engine',
      labelNames: ['engine'],
      registers,
      collect() {
        for (const e of sources.engines?.() ?? []) this.set({ engine: e.id }, e.health.state === 'closed' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'wppgw_engine_secret_key_accepted',
      help: 'The engine accepted its secret key on its last use (1), refused it (0), by engine; absent until known',
      labelNames: ['engine'],
      registers,
      collect() {
        for (const e of sources.engines?.() ?? []) {
          const accepted = e.health.secretKeyAccepted;
          if (accepted === true || accepted === false) this.set({ engine: e.id }, accepted ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'wppgw_engine_channels',
      help: 'Channels placed on each engine (state="placed"), those counting against its capacity (state="load"), and its capacity when it has one (state="capacity")',
      labelNames: ['engine', 'state'],
      registers,
      collect() {
        for (const e of sources.engines?.() ?? []) {
          this.set({ engine: e.id, state: 'placed' }, e.channels);
          this.set({ engine: e.id, state: 'load' }, e.load);
          if (e.capacity !== null) this.set({ engine: e.id, state: 'capacity' }, e.capacity);
        }
      },
    });
    new Gauge({
      name: 'wppgw_channels',
      help: 'Channels by status (from the gateway state)',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<string, number>(CHANNEL_STATUSES.map((s) => [s, 0]));
        for (const status of sources.channelStatuses()) counts.set(status, (counts.get(status) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    // One outbox read per scrape (taken in render) feeds the three outbox gauges.
    const outbox = (): OutboxStats => this.outboxSnapshot ?? { depth: 0, oldestPendingAgeMs: null, dead: 0 };
    new Gauge({
      name: 'wppgw_outbox_pending',
      help: 'Webhook deliveries waiting in the durable outbox',
      registers,
      collect() {
        this.set(outbox().depth);
      },
    });
    new Gauge({
      name: 'wppgw_outbox_oldest_pending_age_seconds',
      help: 'Age of the oldest pending webhook delivery (0 when none)',
      registers,
      collect() {
        this.set((outbox().oldestPendingAgeMs ?? 0) / 1000);
      },
    });
    const background = sources.background;
    if (background) {
      new Gauge({
        name: 'wppgw_engine_background_tasks',
        help: 'Background engine work (polls, probes, restarts, reconcile): running, queued, the limit, and the most ever running at once',
        labelNames: ['state'],
        registers,
        collect() {
          const b = background();
          this.set({ state: 'running' }, b.inFlight);
          this.set({ state: 'queued' }, b.queued);
          this.set({ state: 'limit' }, b.limit);
          this.set({ state: 'peak' }, b.peak);
        },
      });
    }
    new Gauge({
      name: 'wppgw_outbox_dead',
      help: 'Dead-lettered webhook deliveries (replay with POST /api/webhooks/deliveries/:id/replay)',
      registers,
      collect() {
        this.set(outbox().dead);
      },
    });
  }

  /** Express middleware: counts and times every request once it has finished, by its route template. */
  observeRequests(): RequestHandler {
    return (req, res, next) => {
      captureRouteTemplates(Object.getPrototypeOf(req) as object);
      const started = performance.now();
      // 'close' comes for every response: after 'finish' for an answered one, alone for SSE streams and requests
      // the client gave up on.
      res.once('close', () => {
        // No match → one bucket, so scanners probing random paths cannot blow up the label set.
        const route = (req as Request & { [MATCHED]?: string })[MATCHED] ?? 'unmatched';
        const labels = { method: req.method, route, status: String(res.statusCode) };
        this.httpRequests.inc(labels);
        this.httpDuration.observe(labels, (performance.now() - started) / 1000);
      });
      next();
    };
  }

  engineCall(record: EngineCallRecord): void {
    this.engineDuration.observe(
      { engine: record.engine ?? DEFAULT_ENGINE_ID, route: record.route, outcome: record.outcome },
      record.durationMs / 1000,
    );
  }

  delivery(outcome: DeliveryOutcome): void {
    this.deliveries.inc({ outcome });
  }

  /** Supervisor hooks. A zombie signal can carry an error text after ':'; only its kind becomes a label. */
  counters(): SupervisorCounters {
    return {
      restart: (channel, reason) => this.restarts.inc({ channel, reason }),
      zombie: (channel, signal) => this.zombies.inc({ channel, signal: signal.split(':')[0].trim() }),
    };
  }

  async render(): Promise<string> {
    this.outboxSnapshot = await this.sources.outboxStats();
    try {
      return await this.registry.metrics();
    } finally {
      this.outboxSnapshot = null;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

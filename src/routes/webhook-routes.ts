import { Router } from 'express';
import { redactUrls } from '../logger';
import { GatewayError } from '../errors';
import type { EventPipeline, LiveEvent } from '../events/event-pipeline';
import { routeDeadline } from '../middleware/deadline-middleware';
import {
  channelEventsQuery,
  channelIdParams,
  deliveriesQuery,
  deliveryIdParams,
  SSE_EVENT_TYPES,
  webhookIdParams,
  webhookInput,
} from './schemas';

// Named through the pipeline (the use-case), not the repository module that stores them.
type Subscription = ReturnType<EventPipeline['subscriptions']['list']>[number];
type DeliveryCounts = Awaited<ReturnType<EventPipeline['subscriptions']['deliveryCounts']>>;

/**
 * Secrets are never echoed back: not the subscription's secret, nor credentials or tokens in its URL's query string
 * (masked; host, path and parameter names stay). `deliveries` counts what waits behind the subscription.
 */
function view(sub: Subscription, deliveries?: DeliveryCounts) {
  return {
    id: sub.id,
    scope: sub.channelId ? 'channel' : 'global',
    channel: sub.channelId,
    url: redactUrls(sub.url),
    events: sub.events,
    hasSecret: !!sub.secret,
    paused: sub.paused,
    pausedReason: sub.pausedReason ? redactUrls(sub.pausedReason) : sub.pausedReason,
    source: sub.source,
    ...(deliveries ? { deliveries } : {}),
  };
}

export function createWebhookRoutes(deps: { pipeline: EventPipeline; resolveChannel(id: string): string }): Router {
  const { pipeline } = deps;
  const router = Router();
  const { subscriptions } = pipeline;

  // Changed in place: the same id keeps its pending and dead deliveries, which go out with the new URL and secret.
  router.post('/webhooks', async (req, res) => {
    const body = webhookInput.parse(req.body ?? {});
    const sub = await subscriptions.setGlobal(body, 'api');
    pipeline.worker.wake();
    res.status(201).json({
      success: true,
      webhook: view(sub, await subscriptions.deliveryCounts(sub.id)),
      message: 'Webhook registered',
    });
  });

  router.get('/webhooks', async (_req, res) => {
    const subs = subscriptions.list();
    const counts = await Promise.all(subs.map((sub) => subscriptions.deliveryCounts(sub.id)));
    res.json({ success: true, webhooks: subs.map((sub, i) => view(sub, counts[i])) });
  });

  // The one way a subscription goes away, with its deliveries (pending ones included): the answer says how many.
  router.delete('/webhooks/:id', async (req, res) => {
    const id = Number(webhookIdParams.parse(req.params).id);
    const removed = Number.isInteger(id) ? await subscriptions.delete(id) : undefined;
    if (!removed) throw new GatewayError('WEBHOOK_NOT_FOUND');
    const { pending, dead } = removed.dropped;
    res.json({
      success: true,
      webhook: view(removed.subscription),
      droppedDeliveries: removed.dropped,
      message: `Webhook ${id} deleted; ${pending} pending and ${dead} dead deliveries dropped with it`,
    });
  });

  router.post('/channels/:id/webhook', async (req, res) => {
    const channel = deps.resolveChannel(channelIdParams.parse(req.params).id);
    const body = webhookInput.parse(req.body ?? {});
    const sub = await subscriptions.setForChannel(channel, body, 'api');
    pipeline.worker.wake();
    res.status(201).json({
      success: true,
      channel,
      webhook: view(sub, await subscriptions.deliveryCounts(sub.id)),
      webhook_url: redactUrls(sub.url),
    });
  });

  router.get('/webhooks/deliveries', async (req, res) => {
    const query = deliveriesQuery.parse(req.query);
    const [deliveries, stats] = await Promise.all([pipeline.outbox.list(query.state, query.limit), pipeline.stats()]);
    res.json({ success: true, deliveries: deliveries.map(safeDelivery), stats });
  });

  router.post('/webhooks/deliveries/:id/replay', async (req, res) => {
    const id = Number(deliveryIdParams.parse(req.params).id);
    if (!Number.isInteger(id) || !(await pipeline.outbox.replay(id))) throw new GatewayError('DELIVERY_NOT_FOUND');
    pipeline.worker.wake();
    const delivery = await pipeline.outbox.get(id);
    if (!delivery) throw new GatewayError('DELIVERY_NOT_FOUND');
    res.json({ success: true, delivery: safeDelivery(delivery) });
  });

  return router;
}

/** A delivery's last error can quote the target URL (a redirect's Location): masked like the URL itself. */
function safeDelivery<T extends { lastError?: string | null }>(delivery: T): T {
  return delivery.lastError ? { ...delivery, lastError: redactUrls(delivery.lastError) } : delivery;
}

const SSE_TYPES: readonly string[] = SSE_EVENT_TYPES;

/**
 * `GET /channels/:id/events`: Server-Sent Events from the outbox's event log, so `Last-Event-ID` resumes exactly
 * where a client left off, with a heartbeat comment to keep proxies from closing an idle stream.
 */
export function createChannelEventRoutes(deps: {
  pipeline: EventPipeline;
  resolveChannel(id: string): string;
  heartbeatMs?: number;
  /** Where an open stream registers how to end it (a drain ends every stream at once). */
  streams?: Set<() => void>;
}): Router {
  const router = Router();
  router.get('/channels/:id/events', async (req, res) => {
    const channel = deps.resolveChannel(channelIdParams.parse(req.params).id);
    let lastSeq = Number(req.get('last-event-id') ?? channelEventsQuery.parse(req.query).lastEventId ?? NaN);
    const write = (seq: number | null, type: string, body: string) => {
      const parsed = JSON.parse(body) as { data?: unknown };
      // An event that was not stored has no id: the client's Last-Event-ID stays on the last one it can resume from.
      const id = seq === null ? '' : `id: ${seq}\n`;
      res.write(`${id}event: ${type}\ndata: ${JSON.stringify(parsed.data ?? parsed)}\n\n`);
    };
    const live = (event: LiveEvent) => {
      if (event.seq !== null && Number.isFinite(lastSeq) && event.seq <= lastSeq) return;
      write(event.seq, event.type, event.body);
    };
    // Listen before reading the log, and hold what arrives meanwhile: an event committed while the replay is read
    // is then neither lost nor sent twice (the seq check drops what the replay already carried).
    let held: LiveEvent[] | null = [];
    const unsubscribe = deps.pipeline.subscribe((event) => {
      if (event.channelId !== channel || !SSE_TYPES.includes(event.type)) return;
      if (held) held.push(event);
      else live(event);
    });
    // The client leaving is the response's 'close' (the connection went), registered before anything is awaited: the
    // request's own 'close' only says its body was read, which can be before or during the replay's read.
    const timers: { heartbeat?: NodeJS.Timeout } = {};
    let gone = false;
    const end = () => res.end();
    res.once('close', () => {
      gone = true;
      clearInterval(timers.heartbeat);
      unsubscribe();
      deps.streams?.delete(end);
    });
    let replay: Awaited<ReturnType<EventPipeline['outbox']['eventsSince']>> = [];
    try {
      if (Number.isFinite(lastSeq)) replay = await deps.pipeline.outbox.eventsSince(channel, lastSeq, SSE_TYPES);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    if (gone) return;
    // This stream outlives the route deadline by design.
    routeDeadline(res)?.arm(2 ** 31 - 1);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    for (const e of replay) {
      write(e.seq, e.type, e.body);
      lastSeq = e.seq;
    }
    res.write(`: connected to ${channel}\n\n`);
    deps.streams?.add(end);
    const waiting = held;
    held = null;
    for (const event of waiting) live(event);
    timers.heartbeat = setInterval(() => res.write(': heartbeat\n\n'), deps.heartbeatMs ?? 15_000);
    timers.heartbeat.unref();
  });
  return router;
}

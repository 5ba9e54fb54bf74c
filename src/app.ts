import express, { type Express, type Request, type RequestHandler, type Router } from 'express';
import type { OutboxStats } from './store/outbox-store';
import type { EngineAdapter } from './adapters/engine-adapter';
import type { ChannelService } from './channels/channel-service';
import type { Config } from './config';
import { GatewayError } from './errors';
import type { Logger, RequestContext } from './logger';
import { authMiddleware } from './middleware/auth-middleware';
import { deadlineMiddleware } from './middleware/deadline-middleware';
import { scopedRouter } from './routes/router-scope';
import { securityHeadersMiddleware } from './middleware/security-headers-middleware';
import { largeJsonBody } from './middleware/large-json-middleware';
import { MEDIA_FIELDS } from './messages/send-message';
import { errorMiddleware, notFoundMiddleware } from './middleware/error-middleware';
import { requestIdMiddleware } from './middleware/request-id-middleware';
import { type ChannelWebhookRequest, createChannelsRouter } from './routes/channels-router';
import { createEngineEventIntake, type EngineEventIngest } from './events/engine-event-intake';
import { validateSubscription } from './events/subscription-repository';
import { createEngineEventsRouter } from './routes/engine-events-router';
import {
  type ClusterHealth,
  createApiHealthRouter,
  createPublicHealthRouter,
  type StoreHealth,
} from './routes/health-router';
import type { ChannelRepository } from './store/channel-repository';
import type { EngineFleet } from './channels/engine-fleet';
import type { CookieSessions } from './middleware/auth-middleware';

export interface Lifecycle {
  /** Set when SIGINT/SIGTERM arrived: new requests get 503 SHUTTING_DOWN while in-flight ones drain. */
  draining: boolean;
  /**
   * Open event streams, each as the function that ends it: a stream never finishes by itself, so a drain ends them at
   * once (the client reconnects with Last-Event-ID, to another instance or to the next process) instead of waiting
   * SHUTDOWN_DRAIN_MS for them, which would also hold a SIGTERM hand-off of channels to other instances that long.
   */
  streams?: Set<() => void>;
}

export interface AppDeps {
  config: Config;
  engine: EngineAdapter;
  channels: ChannelService;
  repo: ChannelRepository;
  logger: Logger;
  context: RequestContext;
  version: string;
  startedAt: number;
  lifecycle: Lifecycle;
  pipeline?: EngineEventIngest & { stats(): Promise<OutboxStats> };
  /** Where state is kept and whether it answers (GET /api/health). */
  storeHealth?: () => Promise<StoreHealth>;
  /** The engines (their adapters and circuits), for /api/health and /api/engines. */
  fleet: EngineFleet;
  registerChannelWebhook?: (channelId: string, webhook: ChannelWebhookRequest) => Promise<unknown>;
  webhookUrlOf?: (channelId: string) => string | null;
  /** More routers mounted under /api behind auth (messages, media, webhooks, events). */
  apiRouters?: Router[];
  /** Routers mounted at the root before /api (metrics, ui). They do their own auth. */
  rootRouters?: Router[];
  /** Per-request hook (metrics). */
  observe?: RequestHandler;
  /** The operator page's cookie sessions, also accepted by /api (see auth-middleware.ts). */
  uiSessions?: CookieSessions;
  /**
   * Several instances (issue 14): forwards a call about one channel to the instance driving it (cluster.ts); waits up
   * to `waitMs` for a channel whose instance went away to be taken over.
   */
  forwardToOwner?: (channelOf: (req: Request) => string | undefined, waitMs: number) => RequestHandler;
  /** Several instances: reads a channel this instance does not know yet from the shared store. */
  refreshChannel?: (id: string) => Promise<void>;
  /** Several instances: what GET /api/health says about them. */
  clusterHealth?: () => ClusterHealth;
}

/**
 * The channel a call under /api is about, for forwarding: `/channels/:id` and everything below it, and a create
 * naming an existing channel (a re-create starts it where it runs). Lists, sends, media and webhooks are answered by
 * any instance from the shared state.
 */
function channelOfApiCall(req: Request): string | undefined {
  const match = /^\/channels\/([^/]+)(?:\/|$)/.exec(req.path);
  if (match) {
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return undefined;
    }
  }
  if (req.method === 'POST' && req.path === '/channels') {
    const body = (req.body ?? {}) as { channel?: unknown; name?: unknown };
    const named = typeof body.channel === 'string' ? body.channel : body.name;
    return typeof named === 'string' ? named.trim() || undefined : undefined;
  }
  return undefined;
}

/** OPTIONS gets the JSON 404 of an unknown route rather than Express's automatic text/plain answer. */
const refuseOptions: RequestHandler = (req, _res, next) => {
  if (req.method === 'OPTIONS') throw new GatewayError('ROUTE_NOT_FOUND');
  next();
};

/**
 * The composition root's app (house style H5/H17): fixed middleware order — request id → shutdown gate →
 * helmet → body limits → /api (auth → deadline → routers) → engine intake → public routes → 404 → errors.
 * Returns an app that is not listening.
 */
export function createApp(deps: AppDeps): Express {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // Answers are live state, never cached: no ETag to hash, and no conditional GET (`If-None-Match: *` matches any
  // answer) turns the JSON body every caller reads into an empty 304.
  app.set('etag', false);
  Object.defineProperty(app.request, 'fresh', { configurable: true, get: () => false });
  app.set('trust proxy', 'loopback');

  app.use(requestIdMiddleware(deps.context));
  app.use((_req, _res, next) => {
    if (deps.lifecycle.draining) throw new GatewayError('SHUTTING_DOWN');
    next();
  });
  if (deps.observe) app.use(deps.observe);
  app.use(securityHeadersMiddleware({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
  // No route answers OPTIONS (no CORS is ever granted): Express would answer it itself with a text/plain method list.
  // Under /api the secret is checked first (a 401 stays a 401).
  const isApi = (path: string) => path === '/api' || path.startsWith('/api/');
  app.use((req, res, next) => (isApi(req.path) ? next() : refuseOptions(req, res, next)));

  // Body limits: media sends are large (16 MB of audio is ~22 MB of base64, hub-contract.md §1.6), engine
  // webhooks carry whole media with autoDownload; everything else stays small. Each parser marks the body as
  // read, so the generic one below skips it.
  // Those two large bodies are read only for a caller who may send them: the secret (or the channel's intake token) is
  // checked first, so an anonymous client cannot make the gateway read and parse 80-100 MB (it gets its 401/404 before
  // its upload ends).
  const auth = authMiddleware(config.auth.secret, { ui: deps.uiSessions });
  app.use(
    ['/api/messages', '/api/messages/send'],
    auth,
    largeJsonBody({ limit: config.server.messageBodyLimit, mediaKeys: MEDIA_FIELDS }),
  );
  app.use(
    '/engine-events/:channel/:token',
    async (req, _res, next) => {
      const { channel, token } = req.params as Record<string, string>;
      // Several instances: a channel created through another instance a moment ago may not be in this copy yet.
      if (!deps.repo.get(channel) && deps.refreshChannel) await deps.refreshChannel(channel);
      // The same 404 as an unknown route (engine-events-router.ts): nothing tells a guesser it was close.
      if (!deps.repo.findByIntakeToken(channel, token)) throw new GatewayError('ROUTE_NOT_FOUND');
      next();
    },
    express.json({ limit: config.server.eventBodyLimit }),
    // The instance driving the channel applies its events (several instances): the engine may post to any of them.
    ...(deps.forwardToOwner
      ? [deps.forwardToOwner((req) => (req.params as Record<string, string>).channel, forwardWaitMs(config))]
      : []),
  );
  // A request without a body (every GET) skips both: each would otherwise look at its headers and its stream state
  // on every request (body-parser's read and on-finished were 3-4 % of GET /api/channels/:id, issue 13).
  app.use(withBodyOnly(express.json({ limit: config.server.bodyLimit })));
  app.use(withBodyOnly(express.urlencoded({ extended: false, limit: config.server.bodyLimit })));

  // /api first, then the engine intake: nearly every call is one of those, and each router in front of them would try
  // its routes on every call (the routers' paths do not overlap).
  const api = express.Router();
  api.use(auth);
  api.use(refuseOptions);
  api.use(deadlineMiddleware(config.channels.routeDeadlineMs, logger, deps.context));
  if (deps.forwardToOwner) api.use(deps.forwardToOwner(channelOfApiCall, forwardWaitMs(config)));
  api.use(
    scopedRouter(
      createApiHealthRouter({
        fleet: deps.fleet,
        channels: deps.channels,
        version: deps.version,
        startedAt: deps.startedAt,
        outboxStats: deps.pipeline ? () => deps.pipeline!.stats() : undefined,
        store: deps.storeHealth,
        cluster: deps.clusterHealth,
      }),
    ),
  );
  api.use(
    scopedRouter(
      createChannelsRouter({
        channels: deps.channels,
        config,
        registerChannelWebhook: deps.registerChannelWebhook,
        validateChannelWebhook: (webhook) => validateSubscription(webhook, 'create', config.webhooks),
        webhookUrlOf: deps.webhookUrlOf,
      }),
    ),
  );
  for (const router of deps.apiRouters ?? []) api.use(scopedRouter(router));
  app.use('/api', api);

  app.use(
    scopedRouter(
      createEngineEventsRouter({
        intake: createEngineEventIntake({
          engine: deps.engine,
          channels: deps.channels,
          repo: deps.repo,
          pipeline: deps.pipeline,
          logger,
        }),
      }),
    ),
  );
  app.use(scopedRouter(createPublicHealthRouter({ version: deps.version })));
  for (const router of deps.rootRouters ?? []) app.use(scopedRouter(router));

  app.use(notFoundMiddleware());
  app.use(errorMiddleware(logger));
  return app;
}

/** body-parser's own test for a body (type-is `hasBody`): a Transfer-Encoding, or a Content-Length. */
function withBodyOnly(parser: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] === undefined && (length === undefined || Number.isNaN(Number(length)))) {
      next();
      return;
    }
    parser(req, res, next);
  };
}

/** How long a call waits for a channel whose instance went away: its lease running out, plus a round. */
function forwardWaitMs(config: Config): number {
  return config.cluster ? Math.min(config.cluster.leaseTtlMs * 1.5, 20_000) : 0;
}

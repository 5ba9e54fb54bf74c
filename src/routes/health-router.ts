import { Router } from 'express';
import { countByStatus } from '../channels/channel-status';
import type { ChannelService } from '../channels/channel-service';
import type { EngineFleet, EngineMember } from '../channels/engine-fleet';
import { isGatewayError } from '../errors';
import type { OutboxStats } from '../events/event-pipeline';

export interface HealthDeps {
  fleet: EngineFleet;
  channels: ChannelService;
  version: string;
  outboxStats?: () => Promise<OutboxStats>;
  /** Where the gateway keeps its state, and whether it answers now. */
  store?: () => Promise<StoreHealth>;
  startedAt: number;
  /** Several instances: this instance, the live ones, and how many channels this one drives. */
  cluster?: () => ClusterHealth;
}

export interface ClusterHealth {
  instance: string;
  instances: string[];
  driving: number;
}

export interface StoreHealth {
  kind: 'sqlite' | 'postgres';
  /** PostgreSQL answered a probe just now (SQLite, a file: always true). */
  reachable: boolean;
  /** Channel changes held in memory, not yet in the database (more than a moment's worth: PostgreSQL is away). */
  pendingWrites: number;
  error?: string;
}

/** Public liveness: says only that the process answers. Never proxies the engine's /unhealthy (it exits the engine). */
export function createPublicHealthRouter(deps: { version: string }): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ success: true, status: 'ok', service: 'wppconnect-gateway', version: deps.version });
  });
  return router;
}

/** One engine, asked now: does it answer, does it still take our secret key, and what its circuit saw. */
async function engineReport(member: EngineMember, several: boolean): Promise<Record<string, unknown>> {
  const id = several ? { id: member.id } : {};
  // /healthz says the engine answers; only a call that carries SECRET_KEY says it is still ours. A rotated engine
  // secret otherwise stays invisible here while every token re-mint fails (docs/operations.md §3).
  const secretKeyAccepted: Promise<boolean | null> = member.engine.listSessions({ deadlineMs: 2_000 }).then(
    () => true,
    (error: unknown) => (isGatewayError(error) && error.code === 'ENGINE_AUTH_FAILED' ? false : null),
  );
  let engine: Record<string, unknown>;
  try {
    const h = await member.engine.health({ deadlineMs: 2_000 });
    // Awaited only when the engine answers: a down engine is not waited for twice (that call retries).
    const accepted = await secretKeyAccepted;
    engine = {
      ...id,
      reachable: h.reachable,
      name: member.engine.name,
      uptimeSeconds: h.uptimeSeconds ?? null,
      secretKeyAccepted: accepted,
      ...(accepted === false
        ? {
            error: 'ENGINE_AUTH_FAILED',
            hint: several
              ? `The secretKey of engine "${member.id}" in WPPCONNECT_ENGINES is not that engine's SECRET_KEY: set it to the engine's value and reload`
              : "WPPCONNECT_SECRET_KEY is not the engine's SECRET_KEY: set it to the engine's value and reload",
          }
        : {}),
    };
  } catch (error) {
    secretKeyAccepted.catch(() => undefined);
    engine = {
      ...id,
      reachable: false,
      name: member.engine.name,
      secretKeyAccepted: null,
      error: isGatewayError(error) ? error.code : 'ENGINE_UNREACHABLE',
    };
  }
  // The circuit: what every engine call and the background probe saw (an open one also makes the calls above fail
  // fast, without waiting for a connect timeout).
  const health = member.circuit?.snapshot();
  if (health) {
    engine.circuit = health.state;
    if (health.downSince !== null) engine.downSince = new Date(health.downSince).toISOString();
    if (health.state !== 'closed' && health.lastFailure) engine.lastFailure = health.lastFailure;
  }
  return engine;
}

/** Detailed health under /api (authenticated): each engine's reachability, channels by state, outbox. */
export function createApiHealthRouter(deps: HealthDeps): Router {
  const router = Router();
  // One probe of an engine at a time: requests that arrive while it runs share its answer (asked at most 2 s before
  // theirs). A health check per request would let a dashboard, a load balancer or anyone with the secret multiply
  // into engine calls (two per engine per request: the fuzz tests' 10 000 health requests made 15 000 engine calls).
  const inFlight = new Map<EngineMember, Promise<Record<string, unknown>>>();
  const report = (member: EngineMember, several: boolean): Promise<Record<string, unknown>> => {
    let probe = inFlight.get(member);
    if (!probe) {
      probe = engineReport(member, several).finally(() => inFlight.delete(member));
      inFlight.set(member, probe);
    }
    return probe;
  };
  router.get('/health', async (_req, res) => {
    const several = deps.fleet.members.length > 1;
    // Each request gets its own copy: the report is shared with the other requests of the same probe.
    const engines = (await Promise.all(deps.fleet.members.map((m) => report(m, several)))).map((e) => ({ ...e }));
    const store = deps.store ? await deps.store() : null;
    const ok =
      engines.every((e) => e.reachable === true && e.secretKeyAccepted !== false) && store?.reachable !== false;
    // The outbox lives in the store: a store that is away leaves its counts unknown, never this answer a 5xx.
    const outbox = deps.outboxStats && store?.reachable !== false ? await deps.outboxStats().catch(() => null) : null;
    const list = deps.channels.list();
    const byState = countByStatus(list.map((c) => c.status));
    // A gateway whose engine is down still answers 200 here: the body says what is wrong. /health is liveness.
    res.json({
      success: true,
      status: ok ? 'ok' : 'degraded',
      version: deps.version,
      node: process.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      engine: engines[0],
      engines,
      channels: { total: list.length, byState },
      outbox,
      ...(store ? { store } : {}),
      ...(deps.cluster ? { cluster: deps.cluster() } : {}),
    });
  });
  // The engines and their load, from the gateway's own view (no engine call): cheap enough for a dashboard to poll.
  router.get('/engines', (_req, res) => {
    const engines = deps.fleet.summaries();
    res.json({ success: true, engines, total: engines.length });
  });
  return router;
}

import { Router } from 'express';
import { countByStatus } from '../channels/channel-status';
import type { EngineAdapter } from '../adapters/engine-adapter';
import type { ChannelService } from '../channels/channel-service';
import type { EngineHealthSnapshot } from '../adapters/engine-circuit';
import { isGatewayError } from '../errors';

export interface HealthDeps {
  engine: EngineAdapter;
  channels: ChannelService;
  version: string;
  outboxStats?: () => { depth: number; oldestPendingAgeMs: number | null; dead: number };
  startedAt: number;
  engineHealth?: () => EngineHealthSnapshot;
}

/** Public liveness: says only that the process answers. Never proxies the engine's /unhealthy (it exits the engine). */
export function createPublicHealthRouter(deps: { version: string }): Router {
  const router = Router();
  router.get('/health', (_req, res) => {
    res.json({ success: true, status: 'ok', service: 'wppconnect-gateway', version: deps.version });
  });
  return router;
}

/** Detailed health under /api (authenticated): engine reachability, versions, channels by state, outbox. */
export function createApiHealthRouter(deps: HealthDeps): Router {
  const router = Router();
  router.get('/health', async (_req, res) => {
    // /healthz says the engine answers; only a call that carries SECRET_KEY says it is still ours. A rotated engine
    // secret otherwise stays invisible here while every token re-mint fails (docs/operations.md §3).
    const secretKeyAccepted: Promise<boolean | null> = deps.engine.listSessions({ deadlineMs: 2_000 }).then(
      () => true,
      (error: unknown) => (isGatewayError(error) && error.code === 'ENGINE_AUTH_FAILED' ? false : null),
    );
    let engine: Record<string, unknown>;
    try {
      const h = await deps.engine.health({ deadlineMs: 2_000 });
      // Awaited only when the engine answers: a down engine is not waited for twice (that call retries).
      const accepted = await secretKeyAccepted;
      engine = {
        reachable: h.reachable,
        name: deps.engine.name,
        uptimeSeconds: h.uptimeSeconds ?? null,
        secretKeyAccepted: accepted,
        ...(accepted === false
          ? {
              error: 'ENGINE_AUTH_FAILED',
              hint: "WPPCONNECT_SECRET_KEY is not the engine's SECRET_KEY: set it to the engine's value and reload",
            }
          : {}),
      };
    } catch (error) {
      engine = {
        reachable: false,
        name: deps.engine.name,
        secretKeyAccepted: null,
        error: isGatewayError(error) ? error.code : 'ENGINE_UNREACHABLE',
      };
    }
    // The circuit: what every engine call and the background probe saw (an open one also makes the calls above fail
    // fast, without waiting for a connect timeout).
    const health = deps.engineHealth?.();
    if (health) {
      engine.circuit = health.state;
      if (health.downSince !== null) engine.downSince = new Date(health.downSince).toISOString();
      if (health.state !== 'closed' && health.lastFailure) engine.lastFailure = health.lastFailure;
    }
    const list = deps.channels.list();
    const byState = countByStatus(list.map((c) => c.status));
    // A gateway whose engine is down still answers 200 here: the body says what is wrong. /health is liveness.
    res.json({
      success: true,
      status: engine.reachable && engine.secretKeyAccepted !== false ? 'ok' : 'degraded',
      version: deps.version,
      node: process.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      engine,
      channels: { total: list.length, byState },
      outbox: deps.outboxStats ? deps.outboxStats() : null,
    });
  });
  return router;
}

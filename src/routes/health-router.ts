import { Router } from 'express';
import type { EngineAdapter } from '../adapters/engine-adapter';
import type { ChannelService } from '../channels/channel-service';
import { isGatewayError } from '../errors';

export interface HealthDeps {
  engine: EngineAdapter;
  channels: ChannelService;
  version: string;
  outboxStats?: () => { depth: number; oldestPendingAgeMs: number | null; dead: number };
  startedAt: number;
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
    const settle = <T>(p: Promise<T>) =>
      p.then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
    const secretCheck = settle(deps.engine.listSessions({ deadlineMs: 2_000 }));
    const health = await settle(deps.engine.health({ deadlineMs: 2_000 }));
    // An engine that does not answer /healthz is not waited for twice (the secret call retries until its deadline).
    const secret = health.status === 'fulfilled' ? await secretCheck : null;
    let engine: Record<string, unknown>;
    if (health.status === 'fulfilled') {
      const secretKeyAccepted =
        secret?.status === 'fulfilled'
          ? true
          : secret && isGatewayError(secret.reason) && secret.reason.code === 'ENGINE_AUTH_FAILED'
            ? false
            : null;
      engine = {
        reachable: health.value.reachable,
        name: deps.engine.name,
        uptimeSeconds: health.value.uptimeSeconds ?? null,
        secretKeyAccepted,
        ...(secretKeyAccepted === false
          ? {
              error: 'ENGINE_AUTH_FAILED',
              hint: "WPPCONNECT_SECRET_KEY is not the engine's SECRET_KEY: set it to the engine's value and reload",
            }
          : {}),
      };
    } else {
      const error = health.reason;
      engine = {
        reachable: false,
        name: deps.engine.name,
        secretKeyAccepted: null,
        error: isGatewayError(error) ? error.code : 'ENGINE_UNREACHABLE',
      };
    }
    const byState: Record<string, number> = { connected: 0, qr_required: 0, starting: 0, disconnected: 0, failed: 0 };
    const list = deps.channels.list();
    for (const c of list) byState[c.status] = (byState[c.status] ?? 0) + 1;
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

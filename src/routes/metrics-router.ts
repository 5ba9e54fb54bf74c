import { Router } from 'express';
import type { GatewayMetrics } from '../metrics/metrics';
import { authMiddleware } from '../middleware/auth-middleware';

/**
 * `GET /metrics` (Prometheus text format). At the root, where scrapers look, and protected by the gateway
 * secret: `X-Gateway-Secret`, or `Authorization: Bearer <secret>` (what Prometheus' `authorization` block sends).
 */
export function createMetricsRouter(deps: { metrics: GatewayMetrics; secret: string }): Router {
  const router = Router();
  router.get('/metrics', authMiddleware(deps.secret, { bearer: true }), async (_req, res) => {
    const body = await deps.metrics.render();
    res.set('Content-Type', deps.metrics.contentType).set('Cache-Control', 'no-store').send(body);
  });
  return router;
}

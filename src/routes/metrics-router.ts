import { Router } from 'express';
import { GatewayError } from '../errors';
import type { GatewayMetrics } from '../metrics/metrics';
import { safeEqual } from '../middleware/auth-middleware';

/**
 * `GET /metrics` (Prometheus text format). At the root, where scrapers look, and protected by the gateway
 * secret: `X-Gateway-Secret`, or `Authorization: Bearer <secret>` (what Prometheus' `authorization` block sends).
 */
export function createMetricsRouter(deps: { metrics: GatewayMetrics; secret: string }): Router {
  const router = Router();
  router.get('/metrics', async (req, res) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1];
    const given = req.get('x-gateway-secret') ?? bearer;
    if (!given || !safeEqual(given, deps.secret))
      throw new GatewayError('UNAUTHORIZED', { message: 'GET /metrics needs the gateway secret' });
    const body = await deps.metrics.render();
    res.set('Content-Type', deps.metrics.contentType).set('Cache-Control', 'no-store').send(body);
  });
  return router;
}

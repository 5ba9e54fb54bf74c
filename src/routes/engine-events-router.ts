import { Router } from 'express';
import { GatewayError } from '../errors';
import type { EngineEventIntake } from '../events/engine-event-intake';
import { engineEventParams } from './schemas';

export interface EngineEventsRouterDeps {
  /** The intake use-case: false when the (channel, token) pair is unknown. */
  intake: EngineEventIntake;
}

/**
 * The engine's webhook target: `/engine-events/<channel>/<token>`, public and authenticated by the per-channel token
 * (see engine-event-intake.ts). An unknown token is the 404 of an unknown route: nothing tells a guesser it was close.
 */
export function createEngineEventsRouter(deps: EngineEventsRouterDeps): Router {
  const router = Router();
  router.post('/engine-events/:channel/:token', async (req, res) => {
    const { channel, token } = engineEventParams.parse(req.params);
    if (!(await deps.intake(channel, token, req.body, res.locals.requestId as string))) {
      throw new GatewayError('ROUTE_NOT_FOUND');
    }
    res.json({ success: true });
  });
  return router;
}

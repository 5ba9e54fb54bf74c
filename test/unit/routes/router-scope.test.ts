import express, { Router, type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { leadingSegments, scopedRouter } from '../../../src/routes/router-scope';

function appWith(...routers: Router[]): express.Express {
  const app = express();
  for (const router of routers) app.use(scopedRouter(router));
  app.use((_req, res) => void res.status(404).json({ error: 'none' }));
  return app;
}

describe('a router entered only for the paths its routes may match', () => {
  test('When its routes start with literal segments, then those are its segments, lower-cased', () => {
    const router = Router();
    router.get('/channels', (_req, res) => void res.end());
    router.get('/Channels/:id/qr', (_req, res) => void res.end());
    router.post(['/messages', '/messages/send'], (_req, res) => void res.end());

    expect(leadingSegments(router)).toEqual(new Set(['channels', 'messages']));
  });

  test.each([
    ['a middleware of its own', (r: Router) => r.use((_req, _res, next) => next())],
    ['a parameter first', (r: Router) => r.get('/:session/contact/pn-lid/:pnLid', (_req, res) => void res.end())],
    ['a pattern in the first segment', (r: Router) => r.get('/messages{/send}', (_req, res) => void res.end())],
    ['a wildcard', (r: Router) => r.get('/*rest', (_req, res) => void res.end())],
  ])('When it has %s, then it may answer any path', (_name, declare) => {
    const router = Router();
    router.get('/health', (_req, res) => void res.end());
    declare(router);

    expect(leadingSegments(router)).toBeUndefined();
  });

  test('When a path is outside its segments, then the next layer runs at once, without entering it', () => {
    const router = Router();
    const handler = jest.fn();
    router.get('/channels/:id', handler);
    const next = jest.fn() as NextFunction;

    scopedRouter(router)({ path: '/messages', url: '/messages', method: 'GET' } as Request, {} as Response, next);

    // Synchronously: router@2 would leave an unmatched router on setImmediate.
    expect(next).toHaveBeenCalledTimes(1);
    expect(next).toHaveBeenCalledWith();
    expect(handler).not.toHaveBeenCalled();
  });

  test('When a path is in its segments, then its routes answer, in any letter case, as Express matches them', async () => {
    const channels = Router();
    channels.get('/channels/:id', (req, res) => void res.json({ channel: req.params.id }));
    const messages = Router();
    messages.post('/messages', (_req, res) => void res.status(201).json({ sent: true }));
    const app = appWith(channels, messages);

    await request(app).get('/channels/abc').expect(200, { channel: 'abc' });
    await request(app).get('/CHANNELS/abc').expect(200, { channel: 'abc' });
    await request(app).post('/Messages').expect(201, { sent: true });
    await request(app).get('/channels').expect(404, { error: 'none' });
    await request(app).get('/other/abc').expect(404, { error: 'none' });
  });

  test('When a router may answer any path, then every path enters it, as without the scope', async () => {
    const media = Router();
    media.get('/:session/contact/pn-lid/:pnLid', (req, res) => void res.json({ session: req.params.session }));
    const app = appWith(media);

    await request(app).get('/anything/contact/pn-lid/1').expect(200, { session: 'anything' });
  });

  test('When routes are declared after it is mounted, before the first request, then they count', async () => {
    const router = Router();
    const app = appWith(router);
    router.get('/late/:id', (req, res) => void res.json({ id: req.params.id }));

    await request(app).get('/late/7').expect(200, { id: '7' });
  });

  test('When the app is walked for its routes, then a scoped router shows the routes of the router it wraps', () => {
    const router = Router();
    router.get('/channels/:id', (_req, res) => void res.end());
    const scoped = scopedRouter(router) as unknown as { stack: unknown[] };
    router.get('/channels/:id/qr', (_req, res) => void res.end());

    expect(scoped.stack).toBe(router.stack);
    expect(scoped.stack).toHaveLength(2);
  });
});

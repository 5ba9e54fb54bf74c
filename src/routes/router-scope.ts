import type { RequestHandler, Router } from 'express';

/** A literal first path segment: `/channels/:id` → `channels`; `/:session/…` or `/messages{/send}` have none. */
const LITERAL_FIRST_SEGMENT = /^\/([A-Za-z0-9._~-]+)(?:\/|$)/;

/**
 * The first path segments a router's routes can match, lower-cased, or undefined when it may answer any path: it has
 * a middleware of its own (`router.use`), or a route whose first segment is a parameter, a pattern or not a string.
 */
export function leadingSegments(router: Router): Set<string> | undefined {
  const segments = new Set<string>();
  for (const layer of router.stack) {
    const route = layer.route as { path?: unknown } | undefined;
    if (!route) return undefined;
    for (const path of Array.isArray(route.path) ? (route.path as unknown[]) : [route.path]) {
      const literal = typeof path === 'string' ? LITERAL_FIRST_SEGMENT.exec(path) : null;
      if (!literal) return undefined;
      segments.add(literal[1].toLowerCase());
    }
  }
  return segments;
}

/**
 * A router entered only for a path its routes may match, decided by the path's first segment. router@2 leaves a
 * router that matched nothing through `setImmediate` (a turn of the event loop, and an async resource under the request
 * context): passing the four routers mounted before the messages router cost 70-120 µs of CPU per send (two runs), the
 * health router in front of the channel routes about 30 µs per `GET /api/channels/:id` (issue 13, cases 1 and 2).
 * The order of the middleware and the routers is unchanged (house style H17); a router that may answer any path is
 * always entered. The segments are read from the router on its first request, once every route is declared.
 * Express matches paths case-insensitively by default, so this does too.
 */
export function scopedRouter(router: Router): RequestHandler {
  let segments: Set<string> | null | undefined = null;
  const scoped: RequestHandler = (req, res, next) => {
    if (segments === null) segments = leadingSegments(router);
    if (segments) {
      const path = req.path;
      const end = path.indexOf('/', 1);
      if (!segments.has((end === -1 ? path.slice(1) : path.slice(1, end)).toLowerCase())) {
        next();
        return;
      }
    }
    router(req, res, next);
  };
  // What walks the app's routes (the OpenAPI drift test, route listers) reads a mounted router's `stack`.
  Object.defineProperty(scoped, 'stack', { enumerable: true, get: () => router.stack });
  return scoped;
}

import crypto from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { GatewayError } from '../errors';

/** SHA-256 in one call (crypto.hash: no Hash object per call, which showed in the per-request profile). */
const sha256 = (text: string): Buffer => crypto.hash('sha256', text, 'buffer');

/**
 * Constant-time comparison with `secret` that does not leak its length (both sides are hashed first); the secret's
 * digest is computed once, here, not on every request.
 */
function secretMatcher(secret: string): (given: string) => boolean {
  const expected = sha256(secret);
  return (given) => crypto.timingSafeEqual(sha256(given), expected) && given.length === secret.length;
}

/** `secretMatcher(b)(a)`, for a secret that changes between calls (a cookie's MAC). */
export function safeEqual(a: string, b: string): boolean {
  return secretMatcher(b)(a);
}

/** The operator page's session check (src/ui/ui-session.ts); absent when the UI is not mounted. */
export interface CookieSessions {
  fromRequest(req: Request): boolean;
}

export interface AuthOptions {
  /** Accept the operator page's cookie too (on /api). */
  ui?: CookieSessions;
  /** Accept `Authorization: Bearer <secret>` too: what Prometheus' `authorization` block sends (/metrics). */
  bearer?: boolean;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * `X-Gateway-Secret` on every /api route. The 401 is JSON and carries no WWW-Authenticate header: the Hub
 * tells an nginx Basic-auth 401 from an application 401 by that header (hub-contract.md §1.4, §1.5).
 * The operator page's HttpOnly cookie is accepted too; for writes only with `X-Gateway-UI` (CSRF: a
 * cross-site form cannot send a custom header, and no CORS is ever granted).
 */
export function authMiddleware(secret: string, options: AuthOptions = {}): RequestHandler {
  const matches = secretMatcher(secret);
  return (req, _res, next) => {
    const bearer = options.bearer ? /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '')?.[1] : undefined;
    const given = req.get('x-gateway-secret') ?? bearer;
    if (!given && options.ui?.fromRequest(req)) {
      if (!SAFE_METHODS.has(req.method) && !req.get('x-gateway-ui'))
        throw new GatewayError('UNAUTHORIZED', { message: 'A cookie session needs the X-Gateway-UI header to write' });
      next();
      return;
    }
    if (!given) throw new GatewayError('UNAUTHORIZED', { message: 'Missing X-Gateway-Secret header' });
    if (!matches(given)) throw new GatewayError('UNAUTHORIZED', { message: 'Invalid X-Gateway-Secret header' });
    next();
  };
}

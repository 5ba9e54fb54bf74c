import { type Request, type Response, Router } from 'express';
import type { ChannelService } from '../channels/channel-service';
import { isGatewayError } from '../errors';
import type { Logger } from '../logger';
import { safeEqual } from '../middleware/auth-middleware';
import { operatorScript, UI_STYLE } from './ui-assets';
import { channelPage, listPage, loginPage, notFoundPage } from './ui-pages';
import type { UiSessions } from './ui-session';

export interface UiDeps {
  channels: ChannelService;
  sessions: UiSessions;
  secret: string;
  version: string;
  logger: Logger;
  now?: () => number;
}

const LOGIN_FAILURES_MAX = 10;
const LOGIN_WINDOW_MS = 15 * 60 * 1000;

// Only our own script, stylesheet and data: QR images; no framing (clickjacking on the delete button).
const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
  "base-uri 'none'",
].join('; ');

function html(res: Response, status: number, body: string): void {
  res
    .status(status)
    .set('Content-Type', 'text/html; charset=utf-8')
    .set('Content-Security-Policy', CSP)
    .set('Cache-Control', 'no-store')
    .send(body);
}

/**
 * The operator page (`/ui`): server-rendered HTML plus one small script, no build step. Log-in takes the gateway
 * secret and sets an HttpOnly, SameSite=Strict cookie; the pages then use the gateway's own /api with it.
 */
export function createUiRouter(deps: UiDeps): Router {
  const router = Router();
  const loggedIn = (req: Request) => deps.sessions.fromRequest(req);
  const now = deps.now ?? Date.now;
  // Failed log-ins per client address: guessing the secret through the form is throttled (in memory; a restart
  // forgets, which is fine for a ≥ 16-character secret).
  const failures = new Map<string, number[]>();
  const recentFailures = (ip: string) => {
    const list = (failures.get(ip) ?? []).filter((t) => now() - t < LOGIN_WINDOW_MS);
    if (list.length) failures.set(ip, list);
    else failures.delete(ip);
    return list;
  };

  const script = operatorScript();
  router.get('/ui/app.js', (_req, res) => {
    res.set('Content-Type', 'text/javascript; charset=utf-8').set('Cache-Control', 'no-cache').send(script);
  });
  router.get('/ui/app.css', (_req, res) => {
    res.set('Content-Type', 'text/css; charset=utf-8').set('Cache-Control', 'no-cache').send(UI_STYLE);
  });

  router.get('/ui/login', (req, res) => {
    if (loggedIn(req)) return res.redirect(303, '/ui');
    html(res, 200, loginPage());
  });

  router.post('/ui/login', (req, res) => {
    const ip = req.ip ?? 'unknown';
    if (recentFailures(ip).length >= LOGIN_FAILURES_MAX) {
      deps.logger.warn('operator log-in throttled', { ip });
      res.set('Retry-After', String(LOGIN_WINDOW_MS / 1000));
      return html(res, 429, loginPage('Too many failed log-ins from this address. Try again in 15 minutes.'));
    }
    const given = typeof req.body?.secret === 'string' ? req.body.secret : '';
    if (!given || !safeEqual(given, deps.secret)) {
      failures.set(ip, [...recentFailures(ip), now()]);
      deps.logger.warn('operator log-in refused', { ip });
      return html(res, 401, loginPage('That is not the gateway secret.'));
    }
    failures.delete(ip);
    deps.logger.info('operator logged in', { ip });
    res.set('Set-Cookie', deps.sessions.cookie(deps.sessions.issue(), req.secure)).redirect(303, '/ui');
  });

  router.post('/ui/logout', (_req, res) => {
    res.set('Set-Cookie', deps.sessions.clearCookie()).redirect(303, '/ui/login');
  });

  router.get('/ui', (req, res) => {
    if (!loggedIn(req)) return res.redirect(303, '/ui/login');
    html(res, 200, listPage(deps.version));
  });

  router.get('/ui/channels/:id', (req, res) => {
    if (!loggedIn(req)) return res.redirect(303, '/ui/login');
    try {
      const channel = deps.channels.get(String(req.params.id));
      html(res, 200, channelPage(channel));
    } catch (error) {
      if (isGatewayError(error) && error.code === 'CHANNEL_NOT_FOUND')
        return html(res, 404, notFoundPage(String(req.params.id)));
      throw error;
    }
  });

  return router;
}

import crypto from 'node:crypto';
import type { Request } from 'express';
import { safeEqual } from '../middleware/auth-middleware';

export const UI_COOKIE = 'gw_ui';
const TTL_MS = 12 * 60 * 60 * 1000;

/**
 * Operator-page sessions: a stateless cookie `<issuedAt>.<HMAC(secret, issuedAt)>`. Nothing is stored, a
 * restart keeps operators logged in, and rotating GATEWAY_SECRET logs every session out. HttpOnly and
 * SameSite=Strict; cookie-authenticated writes to /api must also carry `X-Gateway-UI` (a header a cross-site
 * form cannot add).
 */
export class UiSessions {
  constructor(
    private readonly secret: string,
    private readonly now: () => number = Date.now,
    readonly ttlMs = TTL_MS,
  ) {}

  issue(): string {
    const issuedAt = String(this.now());
    return `${issuedAt}.${this.mac(issuedAt)}`;
  }

  verify(value: string | undefined): boolean {
    if (!value) return false;
    const [issuedAt, mac, extra] = value.split('.');
    if (!issuedAt || !mac || extra !== undefined || !/^\d{1,16}$/.test(issuedAt)) return false;
    const age = this.now() - Number(issuedAt);
    if (age < 0 || age > this.ttlMs) return false;
    return safeEqual(mac, this.mac(issuedAt));
  }

  fromRequest(req: Request): boolean {
    return this.verify(readCookie(req.get('cookie'), UI_COOKIE));
  }

  cookie(value: string, secure: boolean): string {
    const attrs = [`${UI_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${this.ttlMs / 1000}`];
    if (secure) attrs.push('Secure');
    return attrs.join('; ');
  }

  clearCookie(): string {
    return `${UI_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }

  private mac(issuedAt: string): string {
    return crypto.createHmac('sha256', this.secret).update(`gw-ui-session.${issuedAt}`).digest('base64url');
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

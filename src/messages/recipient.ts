import type { SendTarget } from '../adapters/engine-adapter';
import { GatewayError } from '../errors';

/**
 * The Hub sends `to` as digits only (its normalizePhone strips everything else and prepends 55 to 10/11-digit BR
 * numbers, hub-contract.md §3.1), so it may be a 12-digit BR number without the ninth digit or even the digits of an
 * @lid. Other callers may add a JID suffix. The engine adds the suffix itself from `isGroup`/`isLid`
 * (wppconnect-engine.md §2.1), so we hand it the bare id plus the flags.
 */

/** WhatsApp's own rule (and the engine's): more than 14 digits cannot be a phone number, so it is an @lid. */
const MAX_PHONE_DIGITS = 14;

export function toSendTarget(to: string, isGroup = false): SendTarget {
  const raw = to.trim();
  const at = raw.lastIndexOf('@');
  const suffix = at >= 0 ? raw.slice(at + 1).toLowerCase() : '';
  const local = at >= 0 ? raw.slice(0, at) : raw;
  if (suffix === 'g.us' || isGroup) {
    // Group ids are digits, or the legacy `<creator>-<timestamp>` form.
    const id = local.replace(/[^\d-]/g, '');
    if (!/\d/.test(id)) throw new GatewayError('VALIDATION_FAILED', { message: 'to: not a valid group id' });
    return { to: id, isGroup: true };
  }
  const digits = local.replace(/\D/g, '');
  if (!digits) throw new GatewayError('VALIDATION_FAILED', { message: 'to: must contain a phone number' });
  const isLid = suffix === 'lid' || digits.length > MAX_PHONE_DIGITS;
  return isLid ? { to: digits, isGroup: false, isLid: true } : { to: digits, isGroup: false };
}

/**
 * The other spelling of a Brazilian mobile number: WhatsApp accounts created before the 2012–2016 ninth-digit
 * migration are often still registered under the 8-digit form, so the engine may say "O número … não existe" for
 * one form and accept the other (hub-contract.md §3.4). Returns [] when there is no alternate (landlines, non-BR).
 */
export function brazilianAlternates(digits: string): string[] {
  const m = /^55([1-9][1-9])(\d+)$/.exec(digits);
  if (!m) return [];
  const [, ddd, subscriber] = m;
  // 13 digits: 55 + DDD + 9 + 8 digits → drop the ninth digit.
  if (subscriber.length === 9 && subscriber[0] === '9') return [`55${ddd}${subscriber.slice(1)}`];
  // 12 digits: 55 + DDD + 8 digits. Only mobiles (first digit 6–9) gained the ninth digit; landlines (2–5) did not.
  if (subscriber.length === 8 && /^[6-9]/.test(subscriber)) return [`55${ddd}9${subscriber}`];
  return [];
}

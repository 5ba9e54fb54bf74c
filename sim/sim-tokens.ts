import crypto from 'node:crypto';

/**
 * Engine tokens that behave like WPPConnect Server's (wppconnect-engine.md §1.1): each generate-token call mints a
 * new, different token; every one of them stays valid forever; a token only fits its own session; nothing is
 * stored. The real server runs `bcrypt.compare(session + secretKey, token)`. The simulator uses an HMAC in the
 * same `$2b$10$<22 salt><31 hash>` layout instead, so verification stays stateless (tokens survive a simulator
 * restart with the same secret, like the real thing) without bcrypt's ~80 ms per request.
 */

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN_RE = /^\$2b\$10\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

function toAlphabet(bytes: Buffer, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BCRYPT_ALPHABET[bytes[i % bytes.length] % 64];
  return out;
}

function hashPart(session: string, secretKey: string, salt: string): string {
  const mac = crypto.createHmac('sha256', secretKey).update(`${session}${secretKey}$${salt}`).digest();
  return toAlphabet(mac, 31);
}

/** A new token for the session. `/` becomes `_` and `+` becomes `-`, as the server does for URL safety. */
export function mintToken(session: string, secretKey: string): string {
  const salt = toAlphabet(crypto.randomBytes(22), 22);
  const raw = `$2b$10$${salt}${hashPart(session, secretKey, salt)}`;
  return raw.replace(/\//g, '_').replace(/\+/g, '-');
}

/** The server maps `_`→`/` and `-`→`+` back before comparing (auth.ts), so both spellings verify. */
export function verifyToken(session: string, secretKey: string, token: string): boolean {
  const raw = token.replace(/_/g, '/').replace(/-/g, '+');
  const match = TOKEN_RE.exec(raw);
  if (!match) return false;
  const expected = Buffer.from(hashPart(session, secretKey, match[1]));
  const actual = Buffer.from(match[2]);
  return expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
}

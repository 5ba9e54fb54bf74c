import { readCookie, UiSessions } from '../../../src/ui/ui-session';

const SECRET = 'ui-secret-0123456789abcdef0123456789';

describe('operator-page sessions', () => {
  test('When a cookie was issued with the secret, then it verifies until its TTL and not after', () => {
    let t = 1_000_000;
    const sessions = new UiSessions(SECRET, () => t, 60_000);
    const value = sessions.issue();

    expect(sessions.verify(value)).toBe(true);
    t += 59_000;
    expect(sessions.verify(value)).toBe(true);
    t += 2_000;
    expect(sessions.verify(value)).toBe(false);
  });

  test('When the secret rotates, then every issued cookie stops working', () => {
    const value = new UiSessions(SECRET).issue();
    expect(new UiSessions(`${SECRET}-rotated`).verify(value)).toBe(false);
  });

  test.each([
    ['a tampered time', (v: string) => `${Number(v.split('.')[0]) + 1}.${v.split('.')[1]}`],
    ['a tampered mac', (v: string) => `${v.split('.')[0]}.${'A'.repeat(v.split('.')[1].length)}`],
    ['an extra part', (v: string) => `${v}.x`],
    ['no mac', (v: string) => v.split('.')[0]],
    ['a future time', (v: string) => `${Date.now() + 3_600_000}.${v.split('.')[1]}`],
    ['the secret itself', () => SECRET],
    ['nothing', () => ''],
  ])('When the cookie carries %s, then it is refused', (_name, forge) => {
    const sessions = new UiSessions(SECRET);
    expect(sessions.verify(forge(sessions.issue()))).toBe(false);
  });

  test('When the cookie header is built, then it is HttpOnly, SameSite=Strict, path-wide, and Secure only over HTTPS; the value does not contain the secret', () => {
    const sessions = new UiSessions(SECRET);
    const value = sessions.issue();

    expect(sessions.cookie(value, false)).toBe(`gw_ui=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200`);
    expect(sessions.cookie(value, true)).toMatch(/; Secure$/);
    expect(value).not.toContain(SECRET);
    expect(sessions.clearCookie()).toContain('Max-Age=0');
  });

  test('When a Cookie header holds several cookies, then the named one is read', () => {
    expect(readCookie('a=1; gw_ui=abc.def; b=2', 'gw_ui')).toBe('abc.def');
    expect(readCookie('gw_uix=1', 'gw_ui')).toBeUndefined();
    expect(readCookie(undefined, 'gw_ui')).toBeUndefined();
  });
});

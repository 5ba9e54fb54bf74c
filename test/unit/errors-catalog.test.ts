import fs from 'node:fs';
import path from 'node:path';
import { ERROR_CATALOG, GatewayError } from '../../src/errors';

const doc = fs.readFileSync(path.join(__dirname, '../../docs/errors.md'), 'utf8');
const rows = new Map<string, number>();
for (const m of doc.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) rows.set(m[1], Number(m[2]));

describe('error catalog', () => {
  test.each(Object.entries(ERROR_CATALOG))(
    'When %s is in the catalog, then docs/errors.md documents it with the same status',
    (code, entry) => {
      expect(rows.get(code)).toBe(entry.status);
    },
  );

  test('When docs/errors.md lists a code, then the catalog has it', () => {
    expect([...rows.keys()].filter((code) => !(code in ERROR_CATALOG))).toEqual([]);
  });

  test('When any error is a failure, then its status is never 2xx and its message is a non-empty string', () => {
    for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(typeof entry.message).toBe('string');
      expect(entry.message.length).toBeGreaterThan(0);
      expect(new GatewayError(code as keyof typeof ERROR_CATALOG).status).toBe(entry.status);
    }
  });

  test('When a message says "timeout", then it is only the send whose outcome is unknown', () => {
    const withTimeout = Object.entries(ERROR_CATALOG)
      .filter(([, e]) => /timeout/i.test(e.message))
      .map(([c]) => c);
    expect(withTimeout).toEqual(['SEND_OUTCOME_UNKNOWN']);
  });
});

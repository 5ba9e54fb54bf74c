import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDotEnv, readDotEnv } from '../../src/dotenv';

describe('.env reading (main.ts and the CLI)', () => {
  test('When lines carry export, quotes, spaces and comments, then each variable is read as written', () => {
    const env = parseDotEnv(
      [
        '# the gateway',
        'GATEWAY_SECRET=abc123',
        'export PORT = 3001',
        `WEBHOOK_URL="https://hub.example/webhook?x=1#frag"`,
        "WEBHOOK_SECRET='s p a c e d'",
        '  # indented comment=not-a-var',
        'not a line',
        'EMPTY=',
      ].join('\r\n'),
    );

    expect(env).toEqual({
      GATEWAY_SECRET: 'abc123',
      PORT: '3001',
      WEBHOOK_URL: 'https://hub.example/webhook?x=1#frag',
      WEBHOOK_SECRET: 's p a c e d',
      EMPTY: '',
    });
  });

  test('When the file is missing, then no variables and no throw', () => {
    expect(readDotEnv(path.join(os.tmpdir(), 'no-such-dir-gw', '.env'))).toEqual({});
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-dotenv-'));
    fs.writeFileSync(path.join(dir, '.env'), 'A=1\n');
    expect(readDotEnv(path.join(dir, '.env'))).toEqual({ A: '1' });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

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

describe('.env reading (ecosystem.config.js)', () => {
  const ROOT = path.resolve(__dirname, '../..');
  const BUILT_PARSER = path.join(ROOT, 'dist/src/dotenv.js');
  const ECOSYSTEM = path.join(ROOT, 'ecosystem.config.js');
  const saved = { ...process.env };

  afterEach(() => {
    jest.resetModules();
    process.env = { ...saved };
  });

  function loadEcosystem(): { apps: Array<{ name: string; env: Record<string, string> }> } {
    let loaded: ReturnType<typeof loadEcosystem> | undefined;
    jest.isolateModules(() => {
      loaded = require(ECOSYSTEM);
    });
    return loaded!;
  }

  test('When pm2 loads the process file, then .env is read by the shared parser and the real environment wins', () => {
    // Arrange: the built parser is this very module (the build is the same source).
    const readDotEnvSpy = jest.fn((file: string) => {
      expect(file).toBe(path.join(ROOT, '.env'));
      return parseDotEnv('export GATEWAY_SECRET="from-dotenv"\nPORT=4000\n# COMMENTED=1');
    });
    jest.doMock(BUILT_PARSER, () => ({ readDotEnv: readDotEnvSpy }), { virtual: true });
    jest.doMock(path.join(ROOT, 'dist/src/node-flags.js'), () => jest.requireActual('../../src/node-flags'), {
      virtual: true,
    });
    process.env = { PATH: saved.PATH, PORT: '5000' };

    // Act
    const { apps } = loadEcosystem();

    // Assert
    expect(readDotEnvSpy).toHaveBeenCalledTimes(1);
    const gateway = apps.find((a) => a.name === 'wpp-gateway')!;
    expect(gateway.env).toMatchObject({ GATEWAY_SECRET: 'from-dotenv', PORT: '5000', NODE_ENV: 'production' });
    expect(gateway.env).not.toHaveProperty('COMMENTED');
  });

  test('When dist/ is not built, then loading the process file says to run npm run build', () => {
    // Arrange
    jest.doMock(
      BUILT_PARSER,
      () => {
        throw Object.assign(new Error(`Cannot find module '${BUILT_PARSER}'`), { code: 'MODULE_NOT_FOUND' });
      },
      { virtual: true },
    );

    // Act + Assert
    expect(() => loadEcosystem()).toThrow(/dist\/src\/dotenv\.js, which is not built yet: run `npm run build`/);
  });
});

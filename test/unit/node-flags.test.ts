import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../../src/node-flags';

const ROOT = path.resolve(__dirname, '../..');

describe('node flags of every gateway start (src/node-flags.ts)', () => {
  afterEach(() => jest.resetModules());

  test('When the gateway is started with npm start, then node gets the flags', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    expect(pkg.scripts.start).toBe(['node', ...GATEWAY_NODE_FLAGS, 'dist/src/main.js'].join(' '));
  });

  test('When pm2 starts the gateway from ecosystem.config.js, then node_args are the flags', () => {
    // Arrange: the built modules are these very sources (the build is the same code).
    jest.doMock(path.join(ROOT, 'dist/src/dotenv.js'), () => ({ readDotEnv: () => ({}) }), { virtual: true });
    jest.doMock(path.join(ROOT, 'dist/src/node-flags.js'), () => jest.requireActual('../../src/node-flags'), {
      virtual: true,
    });

    // Act
    let apps: Array<{ name: string; node_args?: string[] }> = [];
    jest.isolateModules(() => {
      apps = (require(path.join(ROOT, 'ecosystem.config.js')) as { apps: typeof apps }).apps;
    });

    // Assert
    expect(apps.find((a) => a.name === 'wpp-gateway')?.node_args).toEqual([...GATEWAY_NODE_FLAGS]);
  });

  test('When node runs with the flags, then its old generation is capped at 1 GB whatever the host has', () => {
    // A misspelt V8 flag makes node exit with "bad option"; a right one changes the limit V8 sizes heap growth by.
    const limitMb = Number(
      execFileSync(
        process.execPath,
        [
          ...GATEWAY_NODE_FLAGS,
          '-e',
          'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit / 2 ** 20))',
        ],
        { encoding: 'utf8' },
      ),
    );
    // heap_size_limit is the old generation's cap plus the young generation's (a few tens of MB).
    expect(limitMb).toBeGreaterThanOrEqual(1024);
    expect(limitMb).toBeLessThan(1024 + 128);
  });
});

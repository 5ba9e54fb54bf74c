import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { loadConfig, type Config, type Env } from '../../src/config';
import { buildGateway, type Gateway, type GatewayOptions } from '../../src/gateway';
import { createMemoryLogger, createRequestContext } from '../../src/logger';

export const TEST_SECRET = 'test-gateway-secret-0123456789abcdef';
export const ENGINE_SECRET = 'THISISMYSECURETOKEN';
export const ENGINE_URL = 'http://engine.test';

export interface TestGateway extends Gateway {
  config: Config;
  logger: ReturnType<typeof createMemoryLogger>;
  dataDir: string;
  /** supertest request with the gateway secret already set. */
  api(method: 'get' | 'post' | 'delete' | 'put', url: string): request.Test;
  close(): Promise<void>;
}

export function testEnv(overrides: Env = {}): Env {
  return {
    GATEWAY_SECRET: TEST_SECRET,
    WPPCONNECT_URL: ENGINE_URL,
    WPPCONNECT_SECRET_KEY: ENGINE_SECRET,
    GATEWAY_PUBLIC_URL: 'http://gateway.test',
    ENGINE_REQUEST_TIMEOUT_MS: '1500',
    CREATE_WAIT_MS: '1500',
    ADOPT_INTERVAL_MS: '0',
    // No background /healthz probe against nock unless a test asks for one (engine calls still feed the circuit).
    ENGINE_PROBE_INTERVAL_MS: '0',
    RESTART_BACKOFF_MS: '10',
    LOG_LEVEL: 'debug',
    ...overrides,
  };
}

/** A gateway built exactly as main.ts builds it, on a temp DATA_DIR, logging into memory. `options` swaps the clock
 * or the start-failure diagnostics. */
export function buildTestGateway(
  overrides: Env = {},
  options: Pick<GatewayOptions, 'now' | 'diagnostics'> = {},
): TestGateway {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-test-'));
  const config = loadConfig(testEnv({ DATA_DIR: dataDir, ...overrides }));
  const logger = createMemoryLogger();
  const context = createRequestContext();
  const gateway = buildGateway({ config, logger, context, ...options });
  return {
    ...gateway,
    config,
    logger,
    dataDir,
    api: (method, url) =>
      request(gateway.app)[method](url).set('X-Gateway-Secret', TEST_SECRET).set('Content-Type', 'application/json'),
    async close() {
      await gateway.stop();
      context.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

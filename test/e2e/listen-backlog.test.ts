import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { startSimulator } from '../../sim/wppconnect-simulator';
import { type GatewayProcess, startGatewayProcess } from '../helpers/processes';

/**
 * The listen queue (LISTEN_BACKLOG): Node's default, 511, drops the rest of a burst of new connections larger than
 * that, and each dropped client retries only after a second (bench case 10: 488 of 1 000 connections at once were
 * dropped by a server listening with 511). The kernel reports a listening socket's queue length as its Send-Q.
 */

function listenQueueOf(port: number): number {
  const line =
    execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' })
      .trim()
      .split('\n')[0] ?? '';
  // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
  return Number(line.trim().split(/\s+/)[2]);
}

const somaxconn = Number(fs.readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

describe('the listen queue (real process)', () => {
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let gw: GatewayProcess | undefined;

  beforeAll(async () => {
    sim = await startSimulator({ secretKey: 'ENGINE-SECRET' });
  });
  afterEach(async () => {
    await gw?.stop();
    gw = undefined;
  });
  afterAll(async () => {
    await sim.close();
  });

  test.each([
    ['by default', {}, Math.min(4096, somaxconn)],
    ['with LISTEN_BACKLOG=100', { LISTEN_BACKLOG: '100' }, 100],
  ])(
    'When the gateway listens %s, then the kernel queues that many new connections for it',
    async (_how, env, expected) => {
      // Arrange
      gw = await startGatewayProcess({
        WPPCONNECT_URL: sim.url,
        WPPCONNECT_SECRET_KEY: 'ENGINE-SECRET',
        ADOPT_INTERVAL_MS: '0',
        LOG_LEVEL: 'warn',
        ...env,
      });

      // Act
      const queue = listenQueueOf(gw.port);

      // Assert
      expect(queue).toBe(expected);
    },
    30_000,
  );
});

import path from 'node:path';
import { startSimulator } from './wppconnect-simulator';

/**
 * `node dist/sim/main.js [--port N] [--secret S] [--qr-delay-ms N] [--qr-rotate-ms N] [--auto-close-ms N]
 * [--log-file F] [--user-data-dir D] [--browser-processes] [--chrome-path P] [--wa-web-unreachable] [--hostname H]
 * [--no-orphan-browsers]`: starts the WPPConnect simulator and prints one JSON line `{"url","secretKey"}` so a
 * parent process can read where it listens.
 */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

function numberArg(name: string): number | undefined {
  const value = arg(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number, got ${value}`);
  return n;
}

async function main(): Promise<void> {
  const secretKey = arg('secret') ?? 'THISISMYSECURETOKEN';
  const userDataDir = arg('user-data-dir');
  const browserProcesses = flag('browser-processes');
  const sim = await startSimulator({
    port: numberArg('port') ?? 0,
    secretKey,
    qrDelayMs: numberArg('qr-delay-ms'),
    qrRotateMs: numberArg('qr-rotate-ms'),
    autoCloseMs: numberArg('auto-close-ms'),
    logFile: arg('log-file'),
    // Process mode needs an absolute directory; a relative one is taken from the current directory.
    userDataDir: userDataDir && browserProcesses ? path.resolve(userDataDir) : userDataDir,
    browserProcesses,
    chromePath: arg('chrome-path'),
    waWebReachable: !flag('wa-web-unreachable'),
    hostname: arg('hostname'),
    orphanBrowsersOnClose: !flag('no-orphan-browsers'),
  });
  process.stdout.write(`${JSON.stringify({ url: sim.url, secretKey })}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void sim.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

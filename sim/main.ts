import { startSimulator } from './wppconnect-simulator';

/**
 * `node dist/sim/main.js [--port N] [--secret S] [--qr-delay-ms N] [--qr-rotate-ms N] [--auto-close-ms N]
 * [--log-file F]`: starts the WPPConnect simulator and prints one JSON line `{"url","secretKey"}` so a parent
 * process can read where it listens.
 */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
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
  const sim = await startSimulator({
    port: numberArg('port') ?? 0,
    secretKey,
    qrDelayMs: numberArg('qr-delay-ms'),
    qrRotateMs: numberArg('qr-rotate-ms'),
    autoCloseMs: numberArg('auto-close-ms'),
    logFile: arg('log-file'),
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

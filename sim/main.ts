import { startSimulator } from './wppconnect-simulator';

/** `node dist/sim/main.js [--port N] [--secret S] [--qr-delay-ms N] [--log-file F]`: prints {"url","secretKey"}. */
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const secretKey = arg('secret') ?? 'THISISMYSECURETOKEN';
  const sim = await startSimulator({
    port: Number(arg('port') ?? 0),
    secretKey,
    qrDelayMs: arg('qr-delay-ms') ? Number(arg('qr-delay-ms')) : undefined,
    logFile: arg('log-file'),
  });
  process.stdout.write(`${JSON.stringify({ url: sim.url, secretKey })}\n`);
  const stop = () => void sim.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();

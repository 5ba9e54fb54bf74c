// pm2 process file: `npx pm2 start ecosystem.config.js`, then `npx pm2 reload wpp-gateway` for restarts.
const fs = require('node:fs');
const path = require('node:path');

/** KEY=VALUE lines from ./.env (quotes and comments allowed); the real environment wins. */
function readEnvFile(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trim().startsWith('#')) continue;
    out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

const env = { ...readEnvFile(path.join(__dirname, '.env')), ...process.env };
const drainMs = Number(env.SHUTDOWN_DRAIN_MS || 10000);

module.exports = {
  apps: [
    {
      name: 'wpp-gateway',
      cwd: __dirname,
      script: 'dist/src/main.js',
      // One process: the SQLite database and the per-channel supervisors live in it (no cluster mode).
      exec_mode: 'fork',
      instances: 1,
      // main.ts calls process.send('ready') once it listens; pm2 reload waits for it before stopping the old one.
      wait_ready: true,
      listen_timeout: 15000,
      // SIGINT → 503 to new requests, drain in-flight ones for SHUTDOWN_DRAIN_MS, close the DB, exit 0.
      kill_timeout: drainMs + 5000,
      max_memory_restart: '1G',
      out_file: 'logs/gateway.out.log',
      error_file: 'logs/gateway.err.log',
      merge_logs: true,
      time: true,
      env: { ...env, NODE_ENV: 'production' },
    },
  ],
};

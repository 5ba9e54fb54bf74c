// pm2 process file: `npx pm2 start ecosystem.config.js`, then `npx pm2 reload wpp-gateway` for restarts.
// After editing .env: `npx pm2 reload ecosystem.config.js --update-env` (a plain reload keeps the saved env).
const path = require('node:path');

/**
 * A module of the built gateway (dist/src/): this file is plain CommonJS that pm2 loads, and the app it starts is
 * dist/src/main.js anyway, so `npm run build` comes first in every case.
 */
function requireBuilt(file) {
  try {
    return require(`./dist/src/${file}`);
  } catch (error) {
    if (error && error.code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `ecosystem.config.js reads the gateway's dist/src/${file}, which is not built yet: run \`npm run build\` in ${__dirname} first`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * ./.env, read by the gateway's own parser (src/dotenv.ts, which main.ts and the CLI use too), so pm2 and the
 * gateway never disagree about a line.
 */
function readEnvFile(file) {
  return requireBuilt('dotenv.js').readDotEnv(file);
}

const env = { ...readEnvFile(path.join(__dirname, '.env')), ...process.env };
const drainMs = Number(env.SHUTDOWN_DRAIN_MS || 10000);
// Where pm2 writes the gateway's stdout/stderr (JSON lines). Relative paths are under this folder.
const logDir = path.resolve(__dirname, env.PM2_LOG_DIR || 'logs');
// With WPPCONNECT_SERVER_DIR the engine runs under this pm2 too (below): its captured stdout+stderr is the file the
// gateway reads launch failures from, and its userDataDir the profiles the gateway frees, unless .env says otherwise.
const serverDir = env.WPPCONNECT_SERVER_DIR ? path.resolve(env.WPPCONNECT_SERVER_DIR) : null;
const engineLog = path.join(logDir, 'wppconnect.log');
const userDataDir = serverDir ? path.resolve(serverDir, env.WPPCONNECT_USER_DATA_DIR || 'userDataDir') : null;
// With several engines (WPPCONNECT_ENGINES) each engine's logFile and userDataDir go in its own entry instead.
const gatewayEnv =
  serverDir && !env.WPPCONNECT_ENGINES
    ? { WPPCONNECT_LOG_FILE: engineLog, ...env, WPPCONNECT_USER_DATA_DIR: userDataDir }
    : env;

const apps = [
  {
    name: 'wpp-gateway',
    cwd: __dirname,
    script: 'dist/src/main.js',
    // The same node flags as every other start (src/node-flags.ts says why: heap growth, hence RSS, by host).
    node_args: [...requireBuilt('node-flags.js').GATEWAY_NODE_FLAGS],
    // One process: the SQLite database and the per-channel supervisors live in it (no cluster mode).
    exec_mode: 'fork',
    instances: 1,
    // main.ts calls process.send('ready') once it listens; pm2 reload waits for it before stopping the old one.
    wait_ready: true,
    listen_timeout: 15000,
    // SIGINT → 503 to new requests, drain in-flight ones for SHUTDOWN_DRAIN_MS, close the DB, exit 0.
    kill_timeout: drainMs + 5000,
    max_memory_restart: '1G',
    out_file: path.join(logDir, 'gateway.out.log'),
    error_file: path.join(logDir, 'gateway.err.log'),
    merge_logs: true,
    time: true,
    env: { ...gatewayEnv, NODE_ENV: 'production' },
  },
];

// Optional: WPPConnect Server itself under the same pm2, for operators who run both on one host. Set
// WPPCONNECT_SERVER_DIR to its built checkout (`npm run build` there). Before every start the profile-lock sweeper
// removes stale Chromium locks (patches/profile-lock-sweeper), so a crash or reboot does not end in Code 21; `exec`
// hands bash's pid to node, so pm2 signals the engine itself.
//
// Stopping it (observed on 2.10.4, docs/real-engine.md): SIGINT ends the engine and the browsers puppeteer launched;
// SIGTERM only closes the browsers and leaves the node process up. So the signal is SIGINT, and after kill_timeout
// pm2 sends SIGKILL, which orphans any browser still running to PID 1 with its profile locked; the sweeper and the
// gateway (KILL_ORPHAN_BROWSERS) clear that before the next start. The browser is the one in CHROME_PATH: the engine
// replaces puppeteerOptions, so an executablePath in its config is ignored (wppconnect-engine.md §7.3).
if (serverDir) {
  const sweeper = path.join(__dirname, 'patches/profile-lock-sweeper/sweep-profile-locks.sh');
  const quote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  apps.push({
    name: 'wppconnect-server',
    cwd: serverDir,
    script: 'bash',
    interpreter: 'none',
    args: ['-c', `sh ${quote(sweeper)} ${quote(userDataDir)}; exec node dist/server.js`],
    exec_mode: 'fork',
    instances: 1,
    kill_signal: 'SIGINT',
    // Puppeteer closes its browsers on SIGINT; a SIGKILL mid-close is what leaves locked profiles behind.
    kill_timeout: 30000,
    // One file for stdout and stderr, as the engine wrote it (no pm2 timestamps: a prefix on every line would break
    // the multi-line entries the gateway reads, e.g. Chromium's stderr under a Code 21): WPPCONNECT_LOG_FILE. The
    // engine's own log/app.logg has no session tags and is no use to the gateway.
    out_file: engineLog,
    error_file: engineLog,
    merge_logs: true,
    env: { ...(env.CHROME_PATH ? { CHROME_PATH: env.CHROME_PATH } : {}) },
  });
}

module.exports = { apps };

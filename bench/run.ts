import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventCases } from './case-events';
import { requestCases } from './case-requests';
import { scaleCases } from './case-scale';
import { gatewayStoreCases } from './case-gateway-store';
import { storeCases } from './case-store';
import { killAll, ROOT } from './children';
import { renderTable, type Row } from './report';
import { settings } from './settings';

/**
 * `npm run bench [-- --quick] [-- --json <file>] [-- --only requests,events,scale,store]`: every case of issue 13's table on
 * loopback, each against its baseline measured in the same run, printed as one table (case, gateway figure, baseline,
 * ratio, goal, met). The gateway is the built `dist/src/main.js` in its own process, the engine the simulator in
 * another, the load generator (autocannon) this process; CPU, RSS and event-loop delay come from inside each process
 * (bench/probe.ts). `--quick` runs the same cases with smaller counts and durations (CI runs it so the suite cannot
 * rot; it asserts nothing about the figures). Exits 1 only when a case could not run, never because a goal is not met.
 * Bounded: a watchdog ends the run (and every child) after `watchdogS`.
 */

const ORDER = [
  '1',
  '1b',
  '2',
  '2b',
  '2c',
  '3',
  '3b',
  '4a',
  '4b',
  '5',
  '5b',
  '6',
  '7',
  '8',
  '9',
  '10',
  'S1',
  'S2',
  'P1',
  'P2',
  'P3',
  'P4',
];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function machine(): string {
  const cpu = /model name\s*:\s*(.+)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty) commit += ' (src/ modified)';
  } catch {
    // not a checkout
  }
  return `${os.availableParallelism()} CPUs (${cpu}), Node ${process.version}, ${os.platform()} ${os.release()}, commit ${commit}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at start, ${freshMemory()}`;
}

/**
 * How long it takes to write 32 MB of memory the process has not touched yet. On this VM that is not a constant. On
 * 2026-12-02 the first write took 90-130 ms and a second write of the same bytes took 2 ms: the host backs a guest
 * page when it is first touched. The same day case 9's direct send took 207-214 ms (median); the day before it took
 * 81 ms. Case 9 allocates and fills tens of MB per send, on the gateway and on the direct path alike, so its times
 * move with this figure.
 */
function freshMemory(): string {
  const bytes = 32 * 2 ** 20;
  const started = process.hrtime.bigint();
  Buffer.allocUnsafeSlow(bytes).fill(1);
  return `32 MB of fresh memory written in ${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const jsonFile = arg('json');
  const only = new Set((arg('only') ?? 'requests,events,scale,store').split(','));
  const s = settings(quick);
  const started = Date.now();
  const log = (line: string) =>
    process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}\n`);
  const watchdog = setTimeout(() => {
    log(`watchdog: still running after ${s.watchdogS} s; ending every child and exiting`);
    void killAll(2_000).finally(() => process.exit(2));
  }, s.watchdogS * 1000);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      log(`${signal}: ending every child`);
      void killAll(2_000).finally(() => process.exit(130));
    });
  }

  const host = machine();
  const header = `${quick ? 'QUICK run (smaller counts and durations: the figures are not comparable with the goals)' : 'Full run'}; ${host}`;
  log(header);
  const rows: Row[] = [];
  const failures: string[] = [];
  const groups: Array<[string, typeof requestCases]> = [
    ['requests', requestCases],
    ['events', eventCases],
    ['scale', scaleCases],
    ['store', storeCases],
    ['store', gatewayStoreCases],
  ];
  for (const [name, group] of groups) {
    if (!only.has(name)) continue;
    try {
      rows.push(...(await group(s, log)));
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`${name} cases failed: ${message}`);
      failures.push(name);
      rows.push({
        id: name,
        case: `${name} cases`,
        gateway: `could not run: ${(error instanceof Error ? error.message : String(error)).split('\n')[0].slice(0, 200)}`,
        baseline: '–',
        ratio: '–',
        goal: '–',
        met: false,
      });
      await killAll(2_000);
    }
  }
  rows.sort((a, b) => (ORDER.indexOf(a.id) + 1 || 99) - (ORDER.indexOf(b.id) + 1 || 99));
  const elapsed = (Date.now() - started) / 1000;
  const table = renderTable(rows);
  process.stdout.write(`${header}; ${elapsed.toFixed(0)} s\n\n${table}\n`);
  if (jsonFile) {
    const out = path.resolve(jsonFile);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(
      out,
      `${JSON.stringify({ quick, machine: host, elapsedS: elapsed, settings: s, rows }, null, 2)}\n`,
    );
    log(`results written to ${out}`);
  }
  await killAll(2_000);
  process.exitCode = failures.length > 0 ? 1 : 0;
}

main().catch(async (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await killAll(2_000);
  process.exit(1);
});

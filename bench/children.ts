import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * The processes `npm run bench` starts: each one runs with bench/probe.ts preloaded and an IPC channel, so the parent
 * can ask it for its own CPU, RSS and event-loop delay (`probe()`), and, for the bench's own hosts (simulator,
 * baseline servers), send commands (`call()`). Every child is registered: `killAll()` ends them (SIGTERM, then
 * SIGKILL) and a process `exit` hook SIGKILLs whatever is left, so a failed or interrupted run leaves nothing behind.
 */

export const ROOT = path.resolve(__dirname, '../..');
export const DIST = path.join(ROOT, 'dist');
const PROBE = path.join(DIST, 'bench/probe.js');
const TAIL_CHARS = 8_000;

export interface ProbeSample {
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
  peakRss: number;
  /** JS heap used + off-heap memory (Buffers) now, and the highest since `peak-start`. */
  held: number;
  peakHeld: number;
  /** Requests to the engine (WPPCONNECT_URL) made by this process: the gateway only. */
  engine: { started: number; inFlight: number; maxInFlight: number };
  eld: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
}

export type ProbeCommand = 'sample' | 'reset' | 'peak-start' | 'peak-stop' | 'gc' | 'profile-start' | 'profile-stop';

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** The last few KB of stdout and stderr, for error messages. */
  output(): string;
  /** `file`: where `profile-stop` writes the window's .cpuprofile. */
  probe(command?: ProbeCommand, file?: string): Promise<ProbeSample>;
  /** A command to a bench host (sim-host.ts, servers.ts): `{cmd, ...args}` → its `result`, or its error thrown. */
  call<T = unknown>(cmd: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Resolves with the first IPC message that satisfies `match` (the hosts announce where they listen). */
  waitMessage<T>(match: (m: Record<string, unknown>) => boolean, timeoutMs: number): Promise<T>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

const live = new Set<Child>();

process.on('exit', () => {
  for (const child of live) child.proc.kill('SIGKILL');
});

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  timeoutMs: number,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const value = await probe();
      if (value) return value as T;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function spawnChild(
  name: string,
  script: string,
  options: { args?: string[]; env?: Record<string, string>; cwd?: string; nodeArgs?: string[] } = {},
): Child {
  if (!fs.existsSync(script)) throw new Error(`${script} is missing: run npm run build first`);
  const proc = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--require', PROBE, script, ...(options.args ?? [])],
    {
      cwd: options.cwd ?? ROOT,
      env: { PATH: process.env.PATH ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-TAIL_CHARS);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let seq = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  const listeners = new Set<(m: Record<string, unknown>) => void>();
  proc.on('message', (raw) => {
    const m = raw as Record<string, unknown>;
    for (const listener of listeners) listener(m);
    const id = typeof m.probeId === 'number' ? m.probeId : typeof m.rpcId === 'number' ? m.rpcId : undefined;
    const waiter = id === undefined ? undefined : pending.get(id);
    if (!waiter) return;
    pending.delete(id as number);
    clearTimeout(waiter.timer);
    if (typeof m.error === 'string') waiter.reject(new Error(`${name}: ${m.error}`));
    else waiter.resolve(m.probeId !== undefined ? m : m.result);
  });
  void exited.then((code) => {
    live.delete(child);
    for (const [, waiter] of pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${name} exited (${code}) while a request was pending: ${tail.slice(-1500)}`));
    }
    pending.clear();
  });
  const send = (message: Record<string, unknown>, key: 'probeId' | 'rpcId', timeoutMs: number) =>
    new Promise<unknown>((resolve, reject) => {
      if (proc.exitCode !== null || !proc.connected) {
        reject(new Error(`${name} is not running: ${tail.slice(-1500)}`));
        return;
      }
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${name}: no answer to ${JSON.stringify(message).slice(0, 100)} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      proc.send({ ...message, [key]: id });
    });
  const child: Child = {
    name,
    pid: proc.pid ?? -1,
    proc,
    output: () => tail,
    probe: (command = 'sample', file?: string) =>
      send({ probe: command, ...(file ? { file } : {}) }, 'probeId', 15_000) as Promise<ProbeSample>,
    call: <T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000) =>
      send({ cmd, ...args }, 'rpcId', timeoutMs) as Promise<T>,
    waitMessage: <T>(match: (m: Record<string, unknown>) => boolean, timeoutMs: number) =>
      new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`${name}: not ready within ${timeoutMs} ms: ${tail.slice(-1500)}`));
        }, timeoutMs);
        const listener = (m: Record<string, unknown>) => {
          if (!match(m)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(m as T);
        };
        listeners.add(listener);
        void exited.then((code) => {
          if (!listeners.has(listener)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          reject(new Error(`${name} exited (${code}) before it was ready: ${tail.slice(-1500)}`));
        });
      }),
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    exited,
  };
  live.add(child);
  return child;
}

/** Ends every child still running (SIGTERM, SIGKILL after the grace period). */
export async function killAll(graceMs = 5_000): Promise<void> {
  await Promise.all([...live].map((child) => child.stop(graceMs)));
}

/** CPU time (µs) between two samples of the same process. */
export function cpuUs(before: ProbeSample, after: ProbeSample): number {
  return after.cpuUserUs + after.cpuSystemUs - (before.cpuUserUs + before.cpuSystemUs);
}

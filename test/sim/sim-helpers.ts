import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface Hooks {
  url: string;
  received: any[];
  waitFor(predicate: (body: any) => boolean, timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

/** A real local webhook receiver: the engine's POSTs land here. */
export async function startHooks(): Promise<Hooks> {
  const received: any[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      received.push(JSON.parse(raw));
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    async waitFor(predicate, timeoutMs = 3000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const hit = received.find(predicate);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no webhook matched within ${timeoutMs} ms; got ${JSON.stringify(received)}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value. */
export async function waitUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs = 3000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const tempDirs: string[] = [];

/** A fresh directory under os.tmpdir(), removed by `removeTempDirs()`. */
export function tempDir(prefix = 'wppsim-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

export function parentPid(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
}

const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g;
const CHROMIUM_PREFIX = /\[\d+:\d+:\d{4}\/\d{6}\.\d{6}:ERROR:/g;

/**
 * A log made comparable with the real capture: timestamps, Chromium's pid/time prefix and the install path
 * neutralised, `    at …` stack frames dropped (node-internal frame numbers differ between Node versions), trailing newlines
 * trimmed (a section cut at the end of a file keeps the final newline).
 */
export function normaliseLog(text: string, replacements: Array<[string, string]> = []): string {
  let out = text.replace(ISO, '<ISO>').replace(CHROMIUM_PREFIX, '[<pid>:<pid>:<time>:ERROR:');
  for (const [from, to] of replacements) out = out.split(from).join(to);
  return out
    .split('\n')
    .filter((line) => !line.startsWith('    at '))
    .join('\n')
    .replace(/\n+$/, '');
}

export const FIXTURES = path.join(__dirname, '..', 'fixtures', 'engine-log');

/**
 * The lines of a log from the first one containing `start` up to (not including) the first later line for which
 * `stop` is true.
 */
export function logSection(text: string, start: string, stop: (line: string) => boolean): string {
  const lines = text.split('\n');
  const from = lines.findIndex((line) => line.includes(start));
  if (from < 0) throw new Error(`no line contains ${start}`);
  let to = from + 1;
  while (to < lines.length && !stop(lines[to])) to++;
  return lines.slice(from, to).join('\n');
}

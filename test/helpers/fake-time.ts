import dc from 'node:diagnostics_channel';
import type { ClientRequest, ServerResponse } from 'node:http';
import { setImmediate as realSetImmediate, setTimeout as realSetTimeout } from 'node:timers';

/**
 * Tests on jest's fake timers for code that also does real I/O: the engine played by nock (an in-process HTTP
 * exchange with its own real sub-millisecond timers) and the gateway's routes through supertest (a real socket).
 *
 * Fake time moves only when the test moves it, and only while no real I/O is under way: before each step of fake time
 * every HTTP request in flight must have answered, unless it is parked on fake time itself (an engine reply delayed
 * with `fakeDelay`, or a route handler waiting on the gateway's own timers). So a deadline, a backoff or a poll can
 * never overtake an engine answer because the machine is slow: what happens when is decided by fake time alone.
 *
 * Node's own timers (`node:timers`, used here, by nock, by the engine client's timeout in engine-http-adapter.ts and
 * by socket timeouts and `AbortSignal.timeout`) are not faked: jest fakes the globals of the test's sandbox only.
 */

/**
 * jest's modern fake timers (setTimeout, setInterval, Date, performance, hrtime), with the queues real I/O runs on left
 * real: nock and supertest schedule their own steps with process.nextTick, setImmediate and queueMicrotask, and would
 * stall on a fake queue that only moves when the test advances the clock.
 */
const FAKE_TIMERS: Parameters<typeof jest.useFakeTimers>[0] = {
  doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'],
};

/** Consecutive real event-loop turns with nothing in flight before the system counts as waiting on fake time. */
const QUIET_TURNS = 5;
/** Real I/O still in flight after at least this long (wall clock) is a bug in the test, not load: fail, do not hang. */
const REAL_IO_CAP_MS = 10_000;

const clientRequests = new Set<ClientRequest>();
const serverResponses = new Set<ServerResponse>();
let parked = 0;
let tracking = false;

const onClientStart = (message: unknown): void => {
  const request = (message as { request: ClientRequest }).request;
  clientRequests.add(request);
  request.once('close', () => clientRequests.delete(request));
};

const onServerStart = (message: unknown): void => {
  const response = (message as { response: ServerResponse }).response;
  serverResponses.add(response);
  response.once('close', () => serverResponses.delete(response));
};

/**
 * Real I/O under way: client requests (to the engine or to the gateway under test) that have not closed, less those the
 * gateway's server is handling (a handler may be waiting on fake time, and its own engine calls are client requests
 * too), less engine replies parked on fake time.
 */
function inFlight(): number {
  return clientRequests.size - serverResponses.size - parked;
}

/** Install jest's fake timers (see FAKE_TIMERS) and start following real HTTP requests. */
export function useFakeTime(): void {
  jest.useFakeTimers(FAKE_TIMERS);
  clientRequests.clear();
  serverResponses.clear();
  parked = 0;
  if (!tracking) {
    dc.subscribe('http.client.request.start', onClientStart);
    dc.subscribe('http.server.request.start', onServerStart);
    tracking = true;
  }
}

/** Back to real timers; stop following requests (the channels are process-wide: another test file must not see ours). */
export function useRealTime(): void {
  if (tracking) {
    dc.unsubscribe('http.client.request.start', onClientStart);
    dc.unsubscribe('http.server.request.start', onServerStart);
    tracking = false;
  }
  clientRequests.clear();
  serverResponses.clear();
  parked = 0;
  jest.useRealTimers();
}

/**
 * Waits `ms` of fake time without holding up `quiesce`: for an engine reply that should take time on the test's clock
 * (a slow poll, engine latency). Under real timers it is a plain delay. (A reply parked here counts as parked until its
 * delay ends, even if its caller gave up on it meanwhile.)
 */
export async function fakeDelay(ms: number): Promise<void> {
  parked++;
  try {
    await new Promise((resolve) => setTimeout(resolve, ms));
  } finally {
    parked = Math.max(0, parked - 1);
  }
}

const realTurn = () => new Promise<void>((resolve) => realSetImmediate(resolve));
const realMs = (ms: number) => new Promise<void>((resolve) => realSetTimeout(resolve, ms));

/**
 * Lets real I/O finish without moving fake time: returns once no request is in flight for QUIET_TURNS turns of the
 * real event loop in a row (every promise, tick and immediate they queued has run), or as soon as `done()` holds.
 */
export async function quiesce(done: () => boolean = () => false): Promise<void> {
  let quiet = 0;
  let waitedMs = 0;
  while (quiet < QUIET_TURNS) {
    if (done()) return;
    if (inFlight() > 0) {
      quiet = 0;
      // Each wait below lasts at least 1 ms of wall clock (Date, performance and hrtime are fake).
      if (++waitedMs > REAL_IO_CAP_MS) {
        throw new Error(
          `real I/O still in flight after ${REAL_IO_CAP_MS} ms of wall clock (${clientRequests.size} client requests, ${serverResponses.size} being served, ${parked} parked on fake time)`,
        );
      }
      // An exchange with nock waits on its real 0 ms timers; the poll phase wakes early for socket I/O.
      await realMs(1);
    } else {
      quiet++;
      await realTurn();
    }
  }
}

/** Advance fake time by `ms`, one `stepMs` at a time, letting real I/O settle before each step and after the last. */
export async function advance(ms: number, stepMs = 1): Promise<void> {
  let left = ms;
  await quiesce();
  while (left > 0) {
    const step = Math.min(stepMs, left);
    await jest.advanceTimersByTimeAsync(step);
    left -= step;
    await quiesce();
  }
}

/**
 * The fake-time twin of processes.ts `waitFor`: checks `probe` whenever real I/O has settled, advancing fake time a
 * millisecond at a time in between, until it holds or `budgetMs` of fake time is spent (then it throws, as waitFor).
 */
export async function waitUntil<T>(
  probe: () => T | undefined | false,
  budgetMs: number,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + budgetMs;
  for (;;) {
    await quiesce();
    const value = probe();
    if (value) return value;
    if (Date.now() >= until) throw new Error(`timed out waiting for ${what} (${budgetMs} ms of fake time)`);
    await jest.advanceTimersByTimeAsync(1);
  }
}

/**
 * Awaits `work` while fake time runs as it needs to (a route that waits for an outcome, a backoff inside the call),
 * a millisecond at a time, and no longer: work that settles on real I/O alone moves fake time not at all. Throws once
 * `budgetMs` of fake time is spent with `work` still pending.
 */
export async function untilSettled<T>(work: PromiseLike<T>, budgetMs = 30_000): Promise<T> {
  let settled = false;
  const result = Promise.resolve(work).finally(() => {
    settled = true;
  });
  result.catch(() => undefined);
  const until = Date.now() + budgetMs;
  for (;;) {
    await quiesce(() => settled);
    if (settled) return result;
    if (Date.now() >= until) throw new Error(`still pending after ${budgetMs} ms of fake time`);
    await jest.advanceTimersByTimeAsync(1);
  }
}

/** Serializes async work: each `run` starts after the previous one settled (a per-channel lifecycle lock). */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  run<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.pending--;
    });
  }

  get busy(): boolean {
    return this.pending > 0;
  }
}

/** Coalesces identical concurrent work: while a call for `key` is in flight, callers share its promise. */
export class SingleFlight {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.inFlight.get(key);
    if (existing) return existing as Promise<T>;
    const promise = fn().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, promise);
    return promise;
  }

  has(key: string): boolean {
    return this.inFlight.has(key);
  }
}

/** Resolves with the promise's value, or with `fallback()` once `ms` have passed (the promise keeps running). */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: () => F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * Waits `ms`, or less when `signal` fires (it resolves either way, never rejects). The timer does not keep the
 * process alive, and the abort listener goes with the timer, so a long-lived signal (a supervisor's lifetime) does
 * not collect one listener per sleep.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface BackoffPolicy {
  /** The delay ceiling of the first retry, in ms; it doubles per attempt. */
  baseMs: number;
  /** The ceiling never exceeds this, in ms. */
  maxMs: number;
  /**
   * `full`: anywhere in [0, ceiling), which spreads retries most (a recovering receiver is not hit by everyone at
   * once). `equal`: [ceiling/2, ceiling), which keeps at least half the wait. @default 'full'
   */
  jitter?: 'full' | 'equal';
  /** No delay is shorter than this, in ms. @default 0 */
  minMs?: number;
}

/**
 * The wait before retry `attempt` (1 for the first retry): exponential backoff with jitter ("Exponential Backoff And
 * Jitter", AWS Architecture Blog) under the ceiling `min(maxMs, baseMs * 2^(attempt - 1))`. `random` is injectable
 * for tests (it returns [0, 1) as Math.random does).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const ceiling = Math.max(0, Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(exponent, 52)));
  const r = Math.min(Math.max(random(), 0), 1);
  const half = ceiling / 2;
  const delay = policy.jitter === 'equal' ? Math.floor(half + r * half) : Math.floor(r * ceiling);
  return Math.max(policy.minMs ?? 0, delay);
}

/**
 * At most `limit` tasks at once; the rest wait in arrival order. Background engine work (polls, probes, restarts,
 * reconcile) runs through one of these so 1 000 channels never open 1 000 engine connections at once (issue 13); a
 * request from a caller does not, so it is never queued behind background work.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** The most tasks ever running at once (for metrics and the 1 000-channel test). */
  peak = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`Semaphore limit must be a positive integer: ${limit}`);
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    // A released slot is handed to the next waiter directly (active stays the same), so nobody can jump the queue.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.peak = Math.max(this.peak, this.active);
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

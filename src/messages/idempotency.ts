import crypto from 'node:crypto';
import { type ErrorCode, ERROR_CATALOG, GatewayError } from '../errors';
import type { Logger } from '../logger';
import type { Db } from '../store/database';
import type { IdempotencyStore } from '../store/idempotency-store';
import { SqliteIdempotencyStore } from '../store/sqlite-idempotency-store';

/**
 * At-most-once sends per key within IDEMPOTENCY_WINDOW_MS (hub-contract.md issue 5 §3). A repeat gets the first
 * answer (same status and body) instead of a second WhatsApp message.
 *
 * What is remembered, and why:
 * - 2xx replies, which always carry the WhatsApp message id: the message went out; a retry must not send it again.
 *   A 2xx without an id is never stored or replayed as a success (truth rules, docs/errors.md): it becomes
 *   SEND_OUTCOME_UNKNOWN, also for rows an older gateway stored that way.
 * - SEND_OUTCOME_UNKNOWN (504): the message may have gone out; resending blindly could duplicate it.
 * - NUMBER_NOT_ON_WHATSAPP (400): the engine keeps sending after this 400 (wppconnect-engine.md §2.0 "double
 *   responses") and it was seen while the message was delivered (hub-contract.md §3.4), so a repeat must not try
 *   again either.
 * Everything else (validation, session disconnected, engine refused or unreachable, ffmpeg failures) is not
 * remembered: nothing was sent, so the caller may retry with the same key once the cause is fixed.
 *
 * A "pending" row is written before the engine is called. If the process dies mid-send, a repeat finds the pending
 * row with no live attempt behind it and answers SEND_OUTCOME_UNKNOWN instead of sending again. Concurrent repeats in
 * this process wait for the live attempt (the in-flight map) and get its answer.
 */

export type SendOutcome =
  | { kind: 'reply'; status: number; body: Record<string, unknown> }
  | { kind: 'error'; status: number; code: ErrorCode; message: string; details?: Record<string, unknown> };

export interface IdempotencyScope {
  /** `key:<Idempotency-Key>` or `rid:<X-Request-Id>:<hash>`. */
  key: string;
  /** Fingerprint of what would be sent (channel, recipient, type, content). */
  hash: string;
}

export interface IdempotencyRun {
  outcome: SendOutcome;
  /** true when the outcome is a stored or shared answer and this request sent nothing. */
  replayed: boolean;
}

export interface Idempotency {
  /** Runs `send` at most once per scope in the window; `scope` null means no idempotency for this request. */
  run(scope: IdempotencyScope | null, send: () => Promise<SendOutcome>): Promise<IdempotencyRun>;
  /** Deletes rows older than the window; returns how many. */
  prune(): Promise<number>;
}

export interface IdempotencyDeps {
  /** Where the rows live; without it, the embedded SQLite `db`. */
  store?: IdempotencyStore;
  db?: Db;
  windowMs: number;
  now?: () => number;
  logger?: Logger;
  /**
   * Several instances share the store (issue 14): a repeat that finds the key pending, with no attempt in flight in this
   * process, may be meeting an attempt in flight on another instance. It waits for that attempt's answer until the
   * attempt is this old (the send budget), then answers SEND_OUTCOME_UNKNOWN. Unset (one process owns the store): a
   * pending row without an attempt here was left by a process that died, and is answered at once.
   */
  pendingWaitMs?: number;
}

const MAX_KEY_LENGTH = 255;
const PENDING = 0;
const PRUNE_EVERY_MS = 60_000;

/** The scope for a request, or null when it carries neither an Idempotency-Key nor a caller X-Request-Id. */
export function idempotencyScope(input: {
  idempotencyKey?: string;
  requestId?: string;
  hash: string;
}): IdempotencyScope | null {
  const key = input.idempotencyKey?.trim();
  if (key) {
    if (key.length > MAX_KEY_LENGTH) {
      throw new GatewayError('VALIDATION_FAILED', {
        message: `Idempotency-Key: at most ${MAX_KEY_LENGTH} characters`,
      });
    }
    return { key: `key:${key}`, hash: input.hash };
  }
  // A request id alone is reused by callers for unrelated calls, so it only deduplicates the same payload.
  if (input.requestId) return { key: `rid:${input.requestId}:${input.hash}`, hash: input.hash };
  return null;
}

/**
 * sha256 over the parts, length-prefixed so ("ab","c") and ("a","bc") differ. Media goes in as its decoded bytes,
 * which hash faster than the base64 text and without a temporary copy.
 */
export function fingerprint(parts: ReadonlyArray<string | number | boolean | Buffer | null | undefined>): string {
  const hash = crypto.createHash('sha256');
  for (const part of parts) {
    if (Buffer.isBuffer(part)) {
      hash.update(`b${part.length}:`);
      hash.update(part);
      continue;
    }
    const text = part === null || part === undefined ? '\u0000' : String(part);
    hash.update(`s${text.length}:`);
    hash.update(text, 'utf8');
  }
  return hash.digest('hex');
}

export function isRemembered(outcome: SendOutcome): boolean {
  if (outcome.kind === 'reply') return isSuccess(outcome) && hasMessageId(outcome);
  return outcome.code === 'SEND_OUTCOME_UNKNOWN' || outcome.code === 'NUMBER_NOT_ON_WHATSAPP';
}

function isSuccess(outcome: SendOutcome): boolean {
  return outcome.status >= 200 && outcome.status < 300;
}

function hasMessageId(outcome: Extract<SendOutcome, { kind: 'reply' }>): boolean {
  const id = outcome.body.messageId;
  return typeof id === 'string' && id.trim() !== '';
}

/**
 * Truth rule: a success carries the WhatsApp message id. A 2xx without one (an engine acknowledgement we could not
 * read, or a row stored before this rule) is answered as what it is: the message may or may not have gone out.
 */
export function truthfulOutcome(outcome: SendOutcome): SendOutcome {
  if (outcome.kind !== 'reply' || !isSuccess(outcome) || hasMessageId(outcome)) return outcome;
  return outcomeFromError(
    new GatewayError('SEND_OUTCOME_UNKNOWN', {
      message:
        'Send timeout: outcome unknown, the send was acknowledged without a WhatsApp message id; the message may have been sent',
    }),
  );
}

export function outcomeFromError(error: GatewayError): SendOutcome {
  return {
    kind: 'error',
    status: error.status,
    code: error.code,
    message: error.message,
    ...(error.details ? { details: error.details } : {}),
  };
}

export function errorFromOutcome(outcome: Extract<SendOutcome, { kind: 'error' }>): GatewayError {
  const code: ErrorCode = outcome.code in ERROR_CATALOG ? outcome.code : 'INTERNAL_ERROR';
  return new GatewayError(code, { message: outcome.message, details: outcome.details });
}

export function createIdempotency(deps: IdempotencyDeps): Idempotency {
  const { windowMs } = deps;
  const store = deps.store ?? new SqliteIdempotencyStore(deps.db!);
  const now = deps.now ?? Date.now;
  const inFlight = new Map<string, { hash: string; promise: Promise<SendOutcome> }>();
  let lastPrune = 0;

  const reused = () => new GatewayError('IDEMPOTENCY_KEY_REUSED');

  function prune(): Promise<number> {
    lastPrune = now();
    return store.prune(now() - windowMs);
  }

  /** The stored answer for a key this attempt could not claim, or undefined when the row went away meanwhile. */
  async function stored(
    key: string,
  ): Promise<{ hash: string; outcome: SendOutcome | 'pending'; createdAt: number } | undefined> {
    const row = await store.get(key);
    if (!row) return undefined;
    if (row.status === PENDING) return { hash: row.hash, outcome: 'pending', createdAt: row.createdAt };
    return { hash: row.hash, outcome: JSON.parse(row.response) as SendOutcome, createdAt: row.createdAt };
  }

  /** Another instance's attempt, until it answers (its outcome), lets the key go ('gone') or runs past the budget. */
  async function otherAttempt(key: string, createdAt: number): Promise<SendOutcome | 'gone' | undefined> {
    const until = createdAt + (deps.pendingWaitMs ?? 0);
    while (now() < until) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(10, Math.min(100, until - now()))));
      const row = await stored(key);
      if (!row) return 'gone';
      if (row.outcome !== 'pending') return row.outcome;
    }
    return undefined;
  }

  async function attempt(scope: IdempotencyScope, send: () => Promise<SendOutcome>): Promise<IdempotencyRun> {
    // The claim is atomic in the store: of two attempts with one key (two requests, or two gateway instances), one
    // sends and the other reads what it left.
    for (let tries = 0; tries < 3; tries++) {
      if (await store.claim(scope.key, scope.hash, now(), now() - windowMs)) {
        let sent: SendOutcome;
        try {
          sent = await send();
        } catch (error) {
          await store.forget(scope.key);
          throw error;
        }
        const outcome = truthfulOutcome(sent);
        if (isRemembered(outcome))
          await store.settle(scope.key, scope.hash, outcome.status, JSON.stringify(outcome), now());
        else await store.forget(scope.key);
        if (now() - lastPrune > PRUNE_EVERY_MS) void prune().catch(() => undefined);
        return { outcome, replayed: false };
      }
      const previous = await stored(scope.key);
      // Gone between the claim and the read: the other attempt sent nothing (not remembered). Claim again.
      if (!previous) continue;
      if (previous.hash !== scope.hash) throw reused();
      deps.logger?.info('idempotent repeat answered from the store', { idempotencyKey: scope.key });
      if (previous.outcome === 'pending') {
        const other = deps.pendingWaitMs ? await otherAttempt(scope.key, previous.createdAt) : undefined;
        // The other attempt sent nothing and let the key go: claim it again.
        if (other === 'gone') continue;
        if (other) {
          deps.logger?.info('idempotent repeat answered by the attempt another instance made', {
            idempotencyKey: scope.key,
          });
          return { outcome: truthfulOutcome(other), replayed: true };
        }
        // An attempt started and never finished (the process died mid-send, or it ran past its budget): the message
        // may have gone out.
        return { outcome: outcomeFromError(new GatewayError('SEND_OUTCOME_UNKNOWN')), replayed: true };
      }
      return { outcome: truthfulOutcome(previous.outcome), replayed: true };
    }
    return { outcome: outcomeFromError(new GatewayError('SEND_OUTCOME_UNKNOWN')), replayed: true };
  }

  return {
    prune,
    async run(scope, send) {
      if (!scope) return { outcome: truthfulOutcome(await send()), replayed: false };
      // Everything up to inFlight.set runs without an await, so a concurrent repeat in this process joins this attempt.
      const live = inFlight.get(scope.key);
      if (live) {
        if (live.hash !== scope.hash) throw reused();
        deps.logger?.info('idempotent repeat joined the send in flight', { idempotencyKey: scope.key });
        return { outcome: await live.promise, replayed: true };
      }
      const running = attempt(scope, send);
      const promise = running.then((run) => run.outcome);
      // A joiner that arrives while the attempt fails gets the same rejection; nobody may be left unhandled.
      promise.catch(() => undefined);
      inFlight.set(scope.key, { hash: scope.hash, promise });
      try {
        return await running;
      } finally {
        inFlight.delete(scope.key);
      }
    },
  };
}

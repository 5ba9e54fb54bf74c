import crypto from 'node:crypto';
import { type ErrorCode, ERROR_CATALOG, GatewayError } from '../errors';
import type { Logger } from '../logger';
import type { Db } from '../store/database';

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
  prune(): number;
}

export interface IdempotencyDeps {
  db: Db;
  windowMs: number;
  now?: () => number;
  logger?: Logger;
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

interface Row {
  request_hash: string;
  status: number;
  response: string;
  created_at: number;
}

export function createIdempotency(deps: IdempotencyDeps): Idempotency {
  const { db, windowMs } = deps;
  const now = deps.now ?? Date.now;
  const inFlight = new Map<string, { hash: string; promise: Promise<SendOutcome> }>();
  let lastPrune = 0;

  const select = db.prepare<[string], Row>(
    'SELECT request_hash, status, response, created_at FROM idempotency WHERE key = ?',
  );
  const upsert = db.prepare<[string, string, number, string, number]>(
    'INSERT OR REPLACE INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?)',
  );
  const remove = db.prepare<[string]>('DELETE FROM idempotency WHERE key = ?');
  const removeOld = db.prepare<[number]>('DELETE FROM idempotency WHERE created_at < ?');

  const reused = () => new GatewayError('IDEMPOTENCY_KEY_REUSED');

  function stored(key: string): { hash: string; outcome: SendOutcome | 'pending' } | undefined {
    const row = select.get(key);
    if (!row) return undefined;
    if (row.created_at < now() - windowMs) {
      remove.run(key);
      return undefined;
    }
    if (row.status === PENDING) return { hash: row.request_hash, outcome: 'pending' };
    return { hash: row.request_hash, outcome: JSON.parse(row.response) as SendOutcome };
  }

  function prune(): number {
    lastPrune = now();
    return removeOld.run(now() - windowMs).changes;
  }

  return {
    prune,
    async run(scope, send) {
      if (!scope) return { outcome: truthfulOutcome(await send()), replayed: false };
      // Everything up to inFlight.set runs without an await, so two concurrent repeats cannot both get past it.
      const live = inFlight.get(scope.key);
      if (live) {
        if (live.hash !== scope.hash) throw reused();
        deps.logger?.info('idempotent repeat joined the send in flight', { idempotencyKey: scope.key });
        return { outcome: await live.promise, replayed: true };
      }
      const previous = stored(scope.key);
      if (previous) {
        if (previous.hash !== scope.hash) throw reused();
        deps.logger?.info('idempotent repeat answered from the store', { idempotencyKey: scope.key });
        if (previous.outcome === 'pending') {
          // An attempt started and never finished (the process died mid-send): the message may have gone out.
          return { outcome: outcomeFromError(new GatewayError('SEND_OUTCOME_UNKNOWN')), replayed: true };
        }
        return { outcome: truthfulOutcome(previous.outcome), replayed: true };
      }
      upsert.run(scope.key, scope.hash, PENDING, '{}', now());
      const promise = send().then(
        (sent) => {
          const outcome = truthfulOutcome(sent);
          if (isRemembered(outcome)) upsert.run(scope.key, scope.hash, outcome.status, JSON.stringify(outcome), now());
          else remove.run(scope.key);
          if (now() - lastPrune > PRUNE_EVERY_MS) prune();
          return outcome;
        },
        (error: unknown) => {
          remove.run(scope.key);
          throw error;
        },
      );
      inFlight.set(scope.key, { hash: scope.hash, promise });
      try {
        return { outcome: await promise, replayed: false };
      } finally {
        inFlight.delete(scope.key);
      }
    },
  };
}

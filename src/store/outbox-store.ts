/**
 * The durable outbox (issue 14's store boundary): an event and its deliveries are committed in one transaction before
 * anyone is told (the intake answers the engine only after `append`). Delivery state lives here, so a `kill -9` loses
 * nothing that was committed; an attempt cut short is retried (at-least-once; the Hub deduplicates by `event_id`).
 *
 * Order is kept per (subscription, channel) pair: only a pair's oldest pending delivery (its head) is ever handed out,
 * and only to one worker at a time. A worker takes heads with `claimDue`, which marks them as its own until
 * `leaseMs` from now; a claimed head is not handed to anyone else until it is settled (delivered, retried later, dead)
 * or its claim runs out (the worker died: another takes it over, so it may be delivered twice, never lost). On
 * PostgreSQL several gateway instances share one outbox this way (`FOR UPDATE SKIP LOCKED`); on SQLite the claims
 * live in the process, which is the file's only user.
 *
 * The contract suite (test/store/outbox-store.contract.ts) runs every implementation: SQLite and PostgreSQL.
 */
export type DeliveryState = 'pending' | 'delivered' | 'dead';

export interface Delivery {
  id: number;
  eventSeq: number;
  eventId: string;
  eventType: string;
  subscriptionId: number;
  channelId: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

export interface StoredEvent {
  seq: number;
  eventId: string;
  channelId: string;
  type: string;
  body: string;
  createdAt: number;
}

export interface OutboxStats {
  depth: number;
  oldestPendingAgeMs: number | null;
  dead: number;
}

/** The longest error text kept on a delivery. */
export const MAX_DELIVERY_ERROR = 500;

/** One event to store, with the subscriptions it goes to. */
export interface NewEvent {
  channelId: string;
  type: string;
  eventId: string;
  body: string;
  subscriptionIds: readonly number[];
}

export interface OutboxStore {
  /**
   * Stores several events and their deliveries in one transaction (one commit for all: group commit), numbered in the
   * order given; returns each event's seq in that order.
   */
  appendMany(events: readonly NewEvent[]): Promise<number[]>;
  /**
   * Up to `limit` pair heads that are due, not claimed by another worker (or whose claim ran out), and whose
   * subscription is not paused, oldest first; each is now claimed by `worker` for `leaseMs`.
   */
  claimDue(worker: string, limit: number, leaseMs: number): Promise<Delivery[]>;
  /** When the next pair head falls due (a claimed one counts from its claim's end); null when nothing is pending. */
  nextDueAt(): Promise<number | null>;
  eventBody(seq: number): Promise<string | undefined>;
  /** Settling a delivery ends its claim, so the pair's next delivery (or this one, retried) can be handed out. */
  markDelivered(id: number, status: number): Promise<void>;
  markRetry(id: number, nextAt: number, status: number | null, error: string): Promise<void>;
  markDead(id: number, status: number | null, error: string): Promise<void>;
  /** Gives a claimed delivery back untouched (its subscription was paused meanwhile): no attempt is counted. */
  release(id: number): Promise<void>;
  /** Newest first. */
  list(state: DeliveryState | undefined, limit: number): Promise<Delivery[]>;
  get(id: number): Promise<Delivery | undefined>;
  /** A delivered or dead delivery goes out again (pending, attempts reset, due now); false when it does not exist. */
  replay(id: number): Promise<boolean>;
  /** A channel's stored events after `afterSeq` of the given types, in order (SSE replay). */
  eventsSince(channelId: string, afterSeq: number, types: readonly string[], limit?: number): Promise<StoredEvent[]>;
  stats(): Promise<OutboxStats>;
  /** Drops events older than `maxAgeMs` that have no pending delivery; returns how many. */
  prune(maxAgeMs: number): Promise<number>;
}

/** Stores one event and one pending delivery per subscription, in one transaction; returns its seq. */
export async function appendEvent(store: OutboxStore, event: NewEvent): Promise<{ seq: number; deliveries: number }> {
  const [seq] = await store.appendMany([event]);
  return { seq, deliveries: event.subscriptionIds.length };
}

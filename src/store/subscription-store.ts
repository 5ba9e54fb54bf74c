/**
 * Where webhook subscriptions are kept (issue 14's store boundary). The rules (URL checks, known events, one global
 * subscription) live in SubscriptionRepository, which reads a copy in memory; this is only storage. A subscription is
 * changed in place (same id), so its pending and dead deliveries stay with it; a change un-pauses it and makes its
 * pending deliveries due now (earlier failures say nothing about the new target). Deleting one deletes its deliveries
 * and says how many of each state went.
 *
 * The contract suite (test/store/subscription-store.contract.ts) runs every implementation: SQLite and PostgreSQL.
 */
export interface Subscription {
  id: number;
  channelId: string | null;
  url: string;
  secret: string | null;
  events: string[];
  paused: boolean;
  pausedReason: string | null;
  source: 'env' | 'api' | 'create';
}

/** Deliveries of a subscription, by state. */
export interface DeliveryCounts {
  pending: number;
  dead: number;
  delivered: number;
}

/** What a write stores: the URL and events already checked. */
export interface SubscriptionValues {
  url: string;
  secret: string | null;
  events: readonly string[];
  source: Subscription['source'];
}

export interface SubscriptionStore {
  /** Every subscription, by id. */
  all(): Promise<Subscription[]>;
  /**
   * The one global subscription (channelId null), created or changed in place; returns its id. Should the store hold
   * several (an older database), the lowest id is kept and the others' deliveries move to it.
   */
  putGlobal(values: SubscriptionValues, at: number): Promise<number>;
  /** The channel's subscription for this URL, created or changed in place; returns its id. */
  putForChannel(channelId: string, values: SubscriptionValues, at: number): Promise<number>;
  /** Deletes it with its deliveries; undefined when there is no such subscription. */
  delete(id: number): Promise<DeliveryCounts | undefined>;
  /** Deletes every subscription of the channel with their deliveries. */
  deleteForChannel(channelId: string): Promise<DeliveryCounts>;
  deliveryCounts(id: number): Promise<DeliveryCounts>;
  pause(id: number, reason: string, at: number): Promise<void>;
  /** Un-paused, nothing else changed; its pending deliveries are due now. */
  resume(id: number, at: number): Promise<void>;
}

export function countsOf(rows: ReadonlyArray<{ state: string; n: number | string }>): DeliveryCounts {
  const count = (state: string) => Number(rows.find((r) => r.state === state)?.n ?? 0);
  return { pending: count('pending'), dead: count('dead'), delivered: count('delivered') };
}

import crypto from 'node:crypto';
import http from 'node:http';
import type pg from 'pg';
import type { RequestHandler, Request, Response } from 'express';
import { ChannelOwnership } from '../channels/channel-ownership';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';
import { routeDeadline } from '../middleware/deadline-middleware';
import type { ChannelRepository } from '../store/channel-repository';
import { CHANNEL_CHANGES, type ChannelChange, type PgChannelStore } from '../store/pg-channel-store';
import { PgLeaseStore } from '../store/pg-lease-store';
import type { PgPool } from '../store/postgres';
import type { SubscriptionStore } from '../store/subscription-store';

/** Engine routes that change a channel's session: they go out only under this instance's live lease. */
const LIFECYCLE_ROUTES = new Set(['start-session', 'close-session', 'logout-session']);

/** The NOTIFY channels: subscriptions changed (the payload: the instance); an instance handed its leases back. */
export const SUBSCRIPTION_CHANGES = 'wppgw_subscriptions';
export const LEASES_RELEASED = 'wppgw_leases';

/** Subscription writes that other instances' copies must follow. */
const SUBSCRIPTION_WRITES = new Set(['putGlobal', 'putForChannel', 'delete', 'deleteForChannel', 'pause', 'resume']);

/**
 * The subscription store, announcing each of its writes (NOTIFY after the commit) so every instance's copy of the rules
 * reloads: a webhook registered through one instance is used by the instance that publishes the channel's events.
 */
export function announcingSubscriptions(store: SubscriptionStore, pool: PgPool, origin: string): SubscriptionStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (!SUBSCRIPTION_WRITES.has(String(prop))) return fn.bind(target);
      return async (...args: unknown[]) => {
        const result = await fn.apply(target, args);
        await pool.query(`SELECT pg_notify('${SUBSCRIPTION_CHANGES}', $1)`, [origin]).catch(() => undefined);
        return result;
      };
    },
  });
}

/** Marks a call forwarded by another instance: it is never forwarded again (no loops between instances). */
export const FORWARDED_BY = 'x-gateway-forwarded-by';

/** Request headers not copied onto a forwarded call (hop-by-hop, or rewritten). */
const HOP_BY_HOP = new Set([
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'expect',
  'proxy-connection',
  'te',
  'trailer',
]);

export interface ClusterOptions {
  pool: PgPool;
  /** How the other instances reach this one (GATEWAY_INSTANCE_URL). */
  instanceUrl: string;
  leaseTtlMs: number;
  waveSize: number;
  repo: ChannelRepository;
  logger: Logger;
  /** This instance's id (`Cluster.newInstanceId`). */
  instanceId: string;
  /** Another instance changed the subscriptions: reload this instance's copy. */
  onSubscriptionsChanged(): void;
  /** Leases taken (`onGained`) and lost (`onLost`): the channel service starts or stops driving the channel. */
  onGained(channelId: string): void;
  onLost(channelId: string, reason: string): void;
}

/**
 * Several gateway instances on one PostgreSQL (issue 14). Each channel is driven by the instance holding its lease
 * (ChannelOwnership: fair shares, take-over in waves, hand-off on SIGTERM); this class wires that into one instance:
 *
 * - **Who answers a channel's call.** Any instance takes any request; a call about one channel (its page, QR, restart,
 *   delete, event stream, and the engine's events) is forwarded to the instance holding the channel's lease, which
 *   answers it as a single gateway would. A channel nobody holds (its instance died, the lease ran out) is taken by
 *   the instance the call reached. So a supervisor, an SSE stream and a QR webhook are always in the same process.
 * - **Fencing.** A lifecycle call to the engine (start, close, logout) goes out only while this instance's lease on
 *   the channel is live by its own clock (it stops before any other instance can take the lease), and carries the
 *   instance and the lease token (`X-Gateway-Instance`, `X-Gateway-Lease`) so an engine-side log can show who drove
 *   a channel. A channel's row is written only under the lease (PgChannelStore's `fence`, checked in the statement).
 * - **Copies.** Every instance keeps the whole registry in memory for lists, sends and the intake's token check; a row
 *   written by one instance is announced with NOTIFY and read again by the others (a full read after the listening
 *   connection was lost, and every minute as a safety net).
 */
export class Cluster {
  readonly instanceId: string;
  readonly ownership: ChannelOwnership;
  private readonly leases: PgLeaseStore;
  private listener: pg.PoolClient | null = null;
  private readonly dirty = new Set<string>();
  private draining: Promise<void> | null = null;
  private stopped = false;
  private resyncTimer: NodeJS.Timeout | null = null;
  private channelStore: PgChannelStore | null = null;
  /** Channels whose row write was refused by the fence (see `writeRefused`). */
  private readonly unwritten = new Set<string>();

  constructor(private readonly options: ClusterOptions) {
    this.instanceId = options.instanceId;
    this.leases = new PgLeaseStore(options.pool);
    this.ownership = new ChannelOwnership({
      store: this.leases,
      instanceId: this.instanceId,
      ttlMs: options.leaseTtlMs,
      waveSize: options.waveSize,
      channels: () => options.repo.list().map((r) => r.id),
      pinned: () => [...this.unwritten].filter((id) => options.repo.get(id) !== undefined),
      onGained: (lease) => {
        // Held again after a write was refused for want of the lease: the store gets memory's row (a created
        // channel whose first write was refused existed nowhere else, so no other instance could ever drive it).
        if (this.unwritten.delete(lease.channelId)) options.repo.rewrite(lease.channelId);
        options.onGained(lease.channelId);
      },
      onLost: (channelId, reason) => options.onLost(channelId, reason),
      logger: options.logger,
    });
  }

  /** The URL others reach this instance at is part of its id, so a lease names where to forward (no second table). */
  static newInstanceId(instanceUrl: string): string {
    return `${instanceUrl}#${process.pid}.${crypto.randomBytes(3).toString('hex')}`;
  }

  /** The base URL of an instance, from its id. */
  static urlOf(instanceId: string): string {
    const hash = instanceId.lastIndexOf('#');
    return hash > 0 ? instanceId.slice(0, hash) : instanceId;
  }

  /** The store's fence: the lease this instance writes a channel's row under, or null when it does not hold it. */
  fence(channelId: string): { owner: string; token: number } | null {
    const lease = this.ownership.lease(channelId);
    return lease ? { owner: lease.owner, token: lease.token } : null;
  }

  /**
   * The store refused a row write of the channel: this instance did not hold its lease then (its own fence, or the
   * statement's). If it holds the lease again later (a renewal that had been missed, a claim), the row is written
   * again from memory; while another instance holds it, that instance's writes stand and this copy follows them.
   */
  writeRefused(channelId: string): void {
    this.unwritten.add(channelId);
  }

  /** Headers for an engine call on `session`; a lifecycle call without a live lease is refused (CHANNEL_MOVING). */
  engineHeaders(session: string, route: string): Record<string, string> | undefined {
    const lease = this.ownership.lease(session);
    if (!lease) {
      // A session that is no channel (adoption reading a stranger) is not fenced; a channel's lifecycle call is.
      if (LIFECYCLE_ROUTES.has(route) && this.options.repo.get(session))
        throw new GatewayError('CHANNEL_MOVING', {
          message: 'This gateway instance no longer holds the channel; it did not change the engine session',
          retryAfterSeconds: 2,
        });
      return undefined;
    }
    return { 'X-Gateway-Instance': this.instanceId, 'X-Gateway-Lease': String(lease.token) };
  }

  /** Follows other instances' channel writes, then starts taking this instance's share of the leases. */
  async start(channelStore: PgChannelStore): Promise<void> {
    this.channelStore = channelStore;
    await this.listen();
    this.ownership.start();
    this.resyncTimer = setInterval(() => void this.resync().catch(() => undefined), 60_000);
    this.resyncTimer.unref();
  }

  /** Hands every lease back (the others take the channels over at their next round) and stops listening. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    const handedBack = await this.ownership.stop().then(
      () => true,
      (error: unknown) => {
        this.options.logger.warn('leases not handed back (they run out by themselves)', { error: String(error) });
        return false;
      },
    );
    // The others look for free channels now instead of at their next round (a SIGTERM hand-off in about a second).
    if (handedBack)
      await this.options.pool
        .query(`SELECT pg_notify('${LEASES_RELEASED}', $1)`, [this.instanceId])
        .catch(() => undefined);
    const client = this.listener;
    this.listener = null;
    client?.release(true);
  }

  /** Whether this instance is the first live one (it runs the work one instance does, such as adoption). */
  async isFirstInstance(): Promise<boolean> {
    const live = await this.leases.liveInstances();
    return live[0] === this.instanceId;
  }

  /** Takes a channel this instance just created (before its row is written: the row is fenced by this lease). */
  async claim(channelId: string): Promise<void> {
    if (!(await this.ownership.claim(channelId))) throw new GatewayError('CHANNEL_MOVING', { retryAfterSeconds: 2 });
  }

  /** A channel deleted here: its lease is handed back once its last row write is in. */
  async released(channelId: string): Promise<void> {
    await this.options.repo.flush();
    await this.ownership.release(channelId);
  }

  /**
   * Forwards a call about the channel `channelOf(req)` names to the instance holding its lease; calls this instance
   * owns (or takes now, nobody holding the channel) go on to the routes. Mounted after the body is parsed.
   */
  forwardToOwner(channelOf: (req: Request) => string | undefined, waitMs: number): RequestHandler {
    return async (req, res, next) => {
      const named = channelOf(req);
      if (!named) return next();
      let record = this.options.repo.findByAlias(named);
      // Created on another instance a moment ago: its NOTIFY may not have arrived yet.
      if (!record) {
        await this.refresh(named);
        record = this.options.repo.findByAlias(named);
      }
      if (!record) return next();
      const id = record.id;
      const forwarded = req.get(FORWARDED_BY) !== undefined;
      // Within the route's own deadline (the Hub's and a serverless caller's budget), less a moment to answer.
      const deadlineMs = routeDeadline(res)?.ms;
      const until = Date.now() + (deadlineMs === undefined ? waitMs : Math.min(waitMs, deadlineMs - 750));
      let owner = this.ownership.ownerOf(id) ?? (await this.ownership.locate(id));
      let attempts = 0;
      for (;;) {
        if (owner === undefined)
          owner = (await this.ownership.claim(id)) ? this.instanceId : await this.ownership.locate(id);
        if (owner === this.instanceId) return next();
        // Sent here by an instance that took this one for the holder: the lease moved meanwhile; it retries.
        if (owner !== undefined && forwarded) throw new GatewayError('CHANNEL_MOVING', { retryAfterSeconds: 1 });
        if (owner !== undefined && (await this.forward(req, res, owner, attempts++ === 0 ? 'warn' : 'debug'))) return;
        // The holder is gone (refused the connection) or the call came from an instance that thought this one held
        // it: ask the store again until the lease runs out and someone (maybe this instance) takes it.
        if (Date.now() >= until || res.headersSent) throw new GatewayError('CHANNEL_MOVING', { retryAfterSeconds: 2 });
        await new Promise((resolve) => setTimeout(resolve, 250));
        owner = await this.ownership.locate(id);
      }
    };
  }

  /**
   * Reads one channel this instance does not know from PostgreSQL (created through another instance a moment ago,
   * before its NOTIFY arrived). Only a well-formed id is looked up; a store that does not answer is "not known".
   */
  async refresh(id: string): Promise<void> {
    if (!this.channelStore || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) return;
    const row = await this.channelStore.read(id).catch(() => null);
    if (row && !this.options.repo.get(row.id)) this.options.repo.applyRemote(row.id, row);
  }

  /** One forwarded call; false when the owner could not be reached (nothing was answered yet). */
  private forward(req: Request, res: Response, owner: string, level: 'warn' | 'debug'): Promise<boolean> {
    const target = new URL(req.originalUrl, `${Cluster.urlOf(owner)}/`);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    headers[FORWARDED_BY] = this.instanceId;
    const requestId = res.locals.requestId as string | undefined;
    if (requestId) headers['x-request-id'] = requestId;
    // The body was parsed here (its limit checked); it goes on as JSON.
    // (Express 5 leaves req.body undefined when no parser read a body.)
    const body = req.body !== undefined ? Buffer.from(JSON.stringify(req.body)) : null;
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(body.length);
    }
    // The owner applies its own deadlines; this one only outlives them (an event stream has none).
    routeDeadline(res)?.arm(req.path.endsWith('/events') ? 2_000_000_000 : 120_000);
    return new Promise<boolean>((resolve) => {
      let answered = false;
      const upstream = http.request(target, { method: req.method, headers, agent: false }, (reply) => {
        answered = true;
        resolve(true);
        this.options.logger.debug('call forwarded to the instance driving the channel', {
          path: req.originalUrl.startsWith('/engine-events/') ? '/engine-events/…' : req.originalUrl,
          instance: owner,
          status: reply.statusCode,
        });
        res.status(reply.statusCode ?? 502);
        for (const [name, value] of Object.entries(reply.headers))
          if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'content-length') res.setHeader(name, value);
        res.flushHeaders();
        reply.pipe(res);
        reply.on('error', () => res.destroy());
      });
      upstream.on('error', (error) => {
        if (answered) {
          res.destroy();
          return;
        }
        // Once per call at warn (the retries while a dead instance's lease runs out are the same news).
        this.options.logger[level]('the instance holding the channel did not answer; asking who holds it now', {
          instance: owner,
          error: String((error as { code?: string }).code ?? error),
        });
        resolve(false);
      });
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      upstream.end(body ?? undefined);
    });
  }

  private async listen(): Promise<void> {
    const client = await this.options.pool.connect();
    client.on('notification', (message) => {
      if (message.payload === this.instanceId || this.stopped) return;
      if (message.channel === SUBSCRIPTION_CHANGES) return this.options.onSubscriptionsChanged();
      if (message.channel === LEASES_RELEASED) return void this.ownership.tick();
      if (message.channel !== CHANNEL_CHANGES || !message.payload) return;
      try {
        const change = JSON.parse(message.payload) as ChannelChange;
        if (change.from === this.instanceId) return;
        if (change.id) this.dirty.add(`id:${change.id}`);
        if (change.key !== undefined) this.dirty.add(`key:${change.key}`);
        this.draining ??= this.drain().finally(() => (this.draining = null));
      } catch {
        // not ours
      }
    });
    const lost = () => {
      if (this.listener !== client) return;
      this.listener = null;
      client.release(true);
      if (this.stopped) return;
      this.options.logger.warn('lost the connection that follows other instances’ channel changes; reconnecting');
      const retry = () => {
        if (this.stopped) return;
        this.listen()
          .then(() => this.resync())
          .catch(() => setTimeout(retry, 1_000).unref());
      };
      setTimeout(retry, 1_000).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.query(`LISTEN ${CHANNEL_CHANGES}; LISTEN ${SUBSCRIPTION_CHANGES}; LISTEN ${LEASES_RELEASED}`);
    this.listener = client;
  }

  /** Reads again each row another instance announced (one at a time: a later read is never overtaken). */
  private async drain(): Promise<void> {
    const store = this.channelStore!;
    while (this.dirty.size > 0 && !this.stopped) {
      const [entry] = this.dirty;
      this.dirty.delete(entry);
      const value = entry.slice(entry.indexOf(':') + 1);
      try {
        if (entry.startsWith('key:')) {
          this.options.repo.applyRemoteTombstone(value, await store.readTombstone(value));
          continue;
        }
        // This instance writes the channels it holds; an announcement about one of them is its own past.
        if (this.ownership.lease(value)) continue;
        const before = this.options.repo.get(value);
        const row = await store.read(value);
        this.options.repo.applyRemote(value, row);
        const key = row?.lookupKey ?? before?.lookupKey;
        if (key !== undefined) this.options.repo.applyRemoteTombstone(key, await store.readTombstone(key));
      } catch (error) {
        this.options.logger.warn('could not read a channel another instance changed', {
          change: entry,
          error: String(error),
        });
      }
    }
  }

  private resync(): Promise<void> {
    return this.options.repo.resync((id) => this.ownership.lease(id) !== undefined);
  }
}

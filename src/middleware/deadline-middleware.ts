import type { Request, RequestHandler, Response } from 'express';
import { GatewayError } from '../errors';
import type { Logger, RequestContext, RequestContextData } from '../logger';
import { renderError } from './error-middleware';

/**
 * Deadlines that share one timer per duration. Every deadline of one duration ends in the order it was set, so each
 * duration keeps a FIFO list and one timer for its head; a deadline cleared before it ends (nearly all of them: the
 * answer came first) is unlinked and never touches a timer. A Node timer per request cost about 20 µs of CPU on
 * `GET /api/channels/:id` (issue 13, case 1): with the request context's async hooks, each timer is an async resource.
 * The clock is monotonic (`performance.now`), as Node's timers are: a wall-clock step must not reorder the list.
 */
class DeadlineQueue {
  private readonly lists = new Map<number, DeadlineList>();

  constructor(private readonly context?: RequestContext) {}

  add(ms: number, fire: () => void): DeadlineEntry {
    let list = this.lists.get(ms);
    if (!list) {
      list = new DeadlineList(ms, this.context, () => this.lists.delete(ms));
      this.lists.set(ms, list);
    }
    return list.push(fire);
  }
}

interface DeadlineEntry {
  at: number;
  fire: () => void;
  /** The request's context, so whatever the deadline sets off logs under the request's id. */
  store: RequestContextData | undefined;
  prev: DeadlineEntry | undefined;
  next: DeadlineEntry | undefined;
  list: DeadlineList | undefined;
}

class DeadlineList {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly context: RequestContext | undefined,
    private readonly drop: () => void,
  ) {}

  push(fire: () => void): DeadlineEntry {
    const entry: DeadlineEntry = {
      at: performance.now() + this.ms,
      fire,
      store: this.context?.get(),
      prev: this.tail,
      next: undefined,
      list: this,
    };
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    if (!this.timer) this.wake(this.ms);
    return entry;
  }

  remove(entry: DeadlineEntry): void {
    if (entry.list !== this) return;
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = entry.list = undefined;
  }

  private wake(ms: number): void {
    // The timer is left alone when the head is cleared: it wakes, finds the new head not due, and sleeps until it is.
    this.timer = setTimeout(() => this.due(), Math.max(1, ms));
    this.timer.unref();
  }

  private due(): void {
    this.timer = undefined;
    const now = performance.now();
    try {
      while (this.head && this.head.at <= now) {
        const entry = this.head;
        this.remove(entry);
        if (this.context && entry.store) this.context.run(entry.store, entry.fire);
        else entry.fire();
      }
    } finally {
      // Even if one deadline's abort threw, the deadlines after it keep their timer.
      if (this.head) this.wake(this.head.at - now);
      else this.drop();
    }
  }
}

/**
 * One request's deadline (house style H15), at `res.locals.deadline` (read it with `routeDeadline(res)`): `signal`
 * fires at the deadline or when the client goes away, and if nothing was sent shortly after, the caller gets a JSON
 * 503 instead of waiting forever. Routes with their own budget re-arm it (`arm`, or `withDeadline(ms)`).
 */
export class RouteDeadline {
  private controller: AbortController | undefined;
  private abortedWith: { reason: unknown } | undefined;
  private entry: DeadlineEntry | undefined;
  private budgetMs = 0;

  constructor(
    private readonly queue: DeadlineQueue,
    private readonly req: Request,
    private readonly res: Response,
    private readonly logger: Logger,
  ) {}

  /** The budget now in force, in ms from when it was last set. */
  get ms(): number {
    return this.budgetMs;
  }

  /**
   * Made when a handler first reads it: most routes never do (a GET of one channel), and an AbortController per
   * request was 2 % of that route's CPU (issue 13, case 1).
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  /** Sets the deadline `ms` from now, in place of the one in force. */
  arm(ms: number): void {
    this.clear();
    this.budgetMs = ms;
    this.entry = this.queue.add(ms, () => this.expire(ms));
  }

  /** The response is over ('close'): the deadline ends, and if nothing was answered the client went away. */
  closed(): void {
    this.clear();
    if (!this.res.writableEnded) this.abort(new Error('client closed the connection'));
  }

  private clear(): void {
    this.entry?.list?.remove(this.entry);
    this.entry = undefined;
  }

  private expire(ms: number): void {
    this.entry = undefined;
    this.abort(new GatewayError('REQUEST_DEADLINE_EXCEEDED'));
    // Give the handler a moment to turn the abort into its own answer before the safety net answers.
    const net = setTimeout(() => {
      if (!this.res.headersSent) {
        this.logger.warn('route deadline exceeded', { method: this.req.method, path: this.req.path, deadlineMs: ms });
        renderError(this.res, new GatewayError('REQUEST_DEADLINE_EXCEEDED'));
      }
    }, 250);
    net.unref();
  }

  private abort(reason: unknown): void {
    if (this.abortedWith) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
  }
}

/** The deadline `deadlineMiddleware` gave this request (undefined outside `/api`). */
export function routeDeadline(res: Response | { locals: Record<string, unknown> }): RouteDeadline | undefined {
  return res.locals.deadline as RouteDeadline | undefined;
}

/**
 * Every route has a deadline (house style H15): see `RouteDeadline`. A class instance, not an accessor defined on
 * `res.locals` per request: that `defineProperty` cost about 45 µs of CPU per request (issue 13, case 1). `context`
 * carries the request's id into whatever a deadline sets off (the deadlines share timers).
 */
export function deadlineMiddleware(defaultMs: number, logger: Logger, context?: RequestContext): RequestHandler {
  const queue = new DeadlineQueue(context);
  return (req, res, next) => {
    const deadline = new RouteDeadline(queue, req, res, logger);
    res.locals.deadline = deadline;
    deadline.arm(defaultMs);
    // 'close' comes for every response (after 'finish' for an answered one): one listener does.
    res.once('close', () => deadline.closed());
    next();
  };
}

/** A per-route deadline: re-arms the one `deadlineMiddleware` set. */
export function withDeadline(ms: number): RequestHandler {
  return (_req, res, next) => {
    routeDeadline(res)?.arm(ms);
    next();
  };
}

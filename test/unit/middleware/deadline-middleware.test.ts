import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { GatewayError } from '../../../src/errors';
import { createRequestContext, createSilentLogger, type RequestContext } from '../../../src/logger';
import { deadlineMiddleware, routeDeadline } from '../../../src/middleware/deadline-middleware';

/** The parts of a response the middleware uses: locals, 'close', and whether anything was sent. */
function fakeResponse(): Response & EventEmitter {
  const res = new EventEmitter() as Response & EventEmitter;
  Object.assign(res, { locals: {}, headersSent: true, writableEnded: false });
  return res;
}

function run(ms: number, middleware = deadlineMiddleware(ms, createSilentLogger())): Response & EventEmitter {
  const res = fakeResponse();
  const next = jest.fn() as NextFunction;
  middleware({ method: 'GET', path: '/x' } as Request, res, next);
  expect(next).toHaveBeenCalledTimes(1);
  return res;
}

function signalOf(res: Response): AbortSignal {
  return routeDeadline(res)!.signal;
}

describe('route deadline signal (routeDeadline(res).signal)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('When a handler holds the signal and the deadline passes, then it aborts with REQUEST_DEADLINE_EXCEEDED', () => {
    const res = run(1_000);
    const signal = signalOf(res);
    expect(signal.aborted).toBe(false);

    jest.advanceTimersByTime(1_000);

    expect(signal.aborted).toBe(true);
    expect((signal.reason as GatewayError).code).toBe('REQUEST_DEADLINE_EXCEEDED');
  });

  test('When a handler first reads the signal after the deadline passed, then it is already aborted with that reason', () => {
    const res = run(1_000);
    jest.advanceTimersByTime(1_000);

    const signal = signalOf(res);

    expect(signal.aborted).toBe(true);
    expect((signal.reason as GatewayError).code).toBe('REQUEST_DEADLINE_EXCEEDED');
  });

  test('When the client goes away before an answer, then the signal aborts, read before or after', () => {
    const early = run(60_000);
    const held = signalOf(early);
    const late = run(60_000);

    early.emit('close');
    late.emit('close');

    expect(held.aborted).toBe(true);
    expect(signalOf(late).aborted).toBe(true);
    expect(String(signalOf(late).reason)).toMatch(/client closed the connection/);
  });

  test('When the answer was sent, then neither close nor a later deadline aborts the signal', () => {
    const res = run(1_000);
    const signal = signalOf(res);
    (res as { writableEnded: boolean }).writableEnded = true;

    res.emit('close');
    jest.advanceTimersByTime(5_000);

    expect(signal.aborted).toBe(false);
  });

  test('When a route re-arms the deadline, then the signal aborts at the new one, not the first', () => {
    const res = run(1_000);
    const signal = signalOf(res);

    routeDeadline(res)!.arm(3_000);
    jest.advanceTimersByTime(2_000);
    expect(signal.aborted).toBe(false);
    jest.advanceTimersByTime(1_000);

    expect(signal.aborted).toBe(true);
  });
});

describe('route deadlines sharing one timer per duration', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('When many requests share a duration, then each aborts at its own deadline and not before', () => {
    const middleware = deadlineMiddleware(1_000, createSilentLogger());
    const first = run(1_000, middleware);
    jest.advanceTimersByTime(300);
    const second = run(1_000, middleware);
    jest.advanceTimersByTime(300);
    const third = run(1_000, middleware);
    const signals = [first, second, third].map(signalOf);

    jest.advanceTimersByTime(399);
    expect(signals.map((s) => s.aborted)).toEqual([false, false, false]);
    jest.advanceTimersByTime(1);
    expect(signals.map((s) => s.aborted)).toEqual([true, false, false]);
    jest.advanceTimersByTime(300);
    expect(signals.map((s) => s.aborted)).toEqual([true, true, false]);
    jest.advanceTimersByTime(300);
    expect(signals.map((s) => s.aborted)).toEqual([true, true, true]);
  });

  test('When the first requests of a duration are answered, then the later ones still abort on time', () => {
    const middleware = deadlineMiddleware(1_000, createSilentLogger());
    const answered = [run(1_000, middleware), run(1_000, middleware)];
    jest.advanceTimersByTime(500);
    const waiting = run(1_000, middleware);
    for (const res of answered) {
      (res as { writableEnded: boolean }).writableEnded = true;
      res.emit('close');
    }

    jest.advanceTimersByTime(999);
    expect(signalOf(waiting).aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(signalOf(waiting).aborted).toBe(true);
    expect(answered.map((res) => signalOf(res).aborted)).toEqual([false, false]);
  });

  test('When a request is re-armed to a longer budget, then the shorter list no longer aborts it', () => {
    const middleware = deadlineMiddleware(1_000, createSilentLogger());
    const longer = run(1_000, middleware);
    const other = run(1_000, middleware);
    routeDeadline(longer)!.arm(5_000);

    jest.advanceTimersByTime(1_000);
    expect(signalOf(other).aborted).toBe(true);
    expect(signalOf(longer).aborted).toBe(false);
    jest.advanceTimersByTime(4_000);
    expect(signalOf(longer).aborted).toBe(true);
    expect(routeDeadline(longer)!.ms).toBe(5_000);
  });

  test('When a deadline passes, then what the abort sets off runs under the request id of its own request', () => {
    const context: RequestContext = createRequestContext();
    const middleware = deadlineMiddleware(1_000, createSilentLogger(), context);
    const seen: Array<string | undefined> = [];
    for (const requestId of ['req-1', 'req-2']) {
      const res = context.run({ requestId }, () => run(1_000, middleware));
      signalOf(res).addEventListener('abort', () => seen.push(context.requestId()));
    }

    jest.advanceTimersByTime(1_000);

    expect(seen).toEqual(['req-1', 'req-2']);
    context.close();
  });

  test('When nothing answers shortly after the deadline, then the client gets the JSON 503 and a warning', () => {
    const warnings: unknown[] = [];
    const logger = { ...createSilentLogger(), warn: (_m: string, meta?: unknown) => warnings.push(meta) };
    const middleware = deadlineMiddleware(1_000, logger);
    const res = fakeResponse();
    const rendered: unknown[] = [];
    Object.assign(res, {
      headersSent: false,
      status: (code: number) => (rendered.push(code), res),
      json: (body: unknown) => (rendered.push(body), res),
      setHeader: () => res,
    });
    middleware({ method: 'GET', path: '/slow' } as Request, res, jest.fn() as NextFunction);

    jest.advanceTimersByTime(1_249);
    expect(rendered).toEqual([]);
    jest.advanceTimersByTime(1);

    expect(warnings).toEqual([{ method: 'GET', path: '/slow', deadlineMs: 1_000 }]);
    expect(rendered[0]).toBe(503);
    expect(rendered[1]).toMatchObject({ error_code: 'REQUEST_DEADLINE_EXCEEDED' });
  });
});

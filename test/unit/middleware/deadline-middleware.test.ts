import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { GatewayError } from '../../../src/errors';
import { createSilentLogger } from '../../../src/logger';
import { deadlineMiddleware } from '../../../src/middleware/deadline-middleware';

/** The parts of a response the middleware uses: locals, 'close', and whether anything was sent. */
function fakeResponse(): Response & EventEmitter {
  const res = new EventEmitter() as Response & EventEmitter;
  Object.assign(res, { locals: {}, headersSent: true, writableEnded: false });
  return res;
}

function run(ms: number): Response & EventEmitter {
  const res = fakeResponse();
  const next = jest.fn() as NextFunction;
  deadlineMiddleware(ms, createSilentLogger())({ method: 'GET', path: '/x' } as Request, res, next);
  expect(next).toHaveBeenCalledTimes(1);
  return res;
}

describe('route deadline signal (res.locals.signal)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('When a handler holds the signal and the deadline passes, then it aborts with REQUEST_DEADLINE_EXCEEDED', () => {
    const res = run(1_000);
    const signal = res.locals.signal as AbortSignal;
    expect(signal.aborted).toBe(false);

    jest.advanceTimersByTime(1_000);

    expect(signal.aborted).toBe(true);
    expect((signal.reason as GatewayError).code).toBe('REQUEST_DEADLINE_EXCEEDED');
  });

  test('When a handler first reads the signal after the deadline passed, then it is already aborted with that reason', () => {
    const res = run(1_000);
    jest.advanceTimersByTime(1_000);

    const signal = res.locals.signal as AbortSignal;

    expect(signal.aborted).toBe(true);
    expect((signal.reason as GatewayError).code).toBe('REQUEST_DEADLINE_EXCEEDED');
  });

  test('When the client goes away before an answer, then the signal aborts, read before or after', () => {
    const early = run(60_000);
    const held = early.locals.signal as AbortSignal;
    const late = run(60_000);

    early.emit('close');
    late.emit('close');

    expect(held.aborted).toBe(true);
    expect((late.locals.signal as AbortSignal).aborted).toBe(true);
    expect(String((late.locals.signal as AbortSignal).reason)).toMatch(/client closed the connection/);
  });

  test('When the answer was sent, then neither close nor a later deadline aborts the signal', () => {
    const res = run(1_000);
    const signal = res.locals.signal as AbortSignal;
    (res as { writableEnded: boolean }).writableEnded = true;

    res.emit('close');
    jest.advanceTimersByTime(5_000);

    expect(signal.aborted).toBe(false);
  });

  test('When a route re-arms the deadline, then the signal aborts at the new one, not the first', () => {
    const res = run(1_000);
    const signal = res.locals.signal as AbortSignal;

    (res.locals.rearmDeadline as (ms: number) => void)(3_000);
    jest.advanceTimersByTime(2_000);
    expect(signal.aborted).toBe(false);
    jest.advanceTimersByTime(1_000);

    expect(signal.aborted).toBe(true);
  });
});

import { backoffDelay, Semaphore, sleep } from '../../../src/channels/concurrency';

describe('backoffDelay', () => {
  const policy = { baseMs: 1_000, maxMs: 10_000 };

  test.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [5, 10_000],
    [60, 10_000],
  ])('When retry %i draws the top of the range, then the delay is the ceiling %i ms', (attempt, ceiling) => {
    // Act
    const delay = backoffDelay(attempt, policy, () => 1);

    // Assert
    expect(delay).toBe(ceiling);
  });

  test('When the jitter is full, then the delay spans 0 up to the ceiling', () => {
    // Act
    const low = backoffDelay(3, policy, () => 0);
    const mid = backoffDelay(3, policy, () => 0.5);
    const high = backoffDelay(3, policy, () => 0.999_999);

    // Assert
    expect([low, mid, high]).toEqual([0, 2_000, 3_999]);
  });

  test('When the jitter is equal, then the delay keeps at least half the ceiling', () => {
    // Act
    const low = backoffDelay(3, { ...policy, jitter: 'equal' }, () => 0);
    const high = backoffDelay(3, { ...policy, jitter: 'equal' }, () => 0.999_999);

    // Assert
    expect([low, high]).toEqual([2_000, 3_999]);
  });

  test('When a minimum is set, then no delay is shorter', () => {
    // Act
    const delay = backoffDelay(1, { ...policy, minMs: 500 }, () => 0);

    // Assert
    expect(delay).toBe(500);
  });

  test('When the attempt is 0 or negative, or random misbehaves, then the delay stays within [0, base]', () => {
    // Act
    const delays = [
      backoffDelay(0, policy, () => 1),
      backoffDelay(-3, policy, () => 1),
      backoffDelay(1, policy, () => 7),
      backoffDelay(1, policy, () => -1),
    ];

    // Assert
    expect(delays).toEqual([1_000, 1_000, 1_000, 0]);
  });

  test('When random is left to Math.random, then every delay is an integer within the ceiling', () => {
    // Act
    const delays = Array.from({ length: 200 }, (_, i) => backoffDelay((i % 8) + 1, policy));

    // Assert
    for (const d of delays) {
      expect(Number.isInteger(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });
});

describe('sleep', () => {
  afterEach(() => jest.restoreAllMocks());

  test('When sleeping, then the timer does not keep the process alive', async () => {
    // Arrange
    const setTimer = jest.spyOn(global, 'setTimeout');

    // Act
    const done = sleep(5);
    const timer = setTimer.mock.results.at(-1)?.value as NodeJS.Timeout;
    const referenced = timer.hasRef();
    await done;

    // Assert
    expect(referenced).toBe(false);
  });

  test('When the timer fires, then the abort listener is removed from the signal', async () => {
    // Arrange
    const controller = new AbortController();
    const added = jest.spyOn(controller.signal, 'addEventListener');
    const removed = jest.spyOn(controller.signal, 'removeEventListener');

    // Act
    await sleep(5, controller.signal);

    // Assert
    expect(added).toHaveBeenCalledTimes(1);
    expect(removed).toHaveBeenCalledWith('abort', added.mock.calls[0][1]);
  });

  test('When many sleeps share one long-lived signal, then no listener is left behind', async () => {
    // Arrange
    const controller = new AbortController();
    let listeners = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = ((...args: Parameters<typeof add>) => (listeners++, add(...args))) as never;
    controller.signal.removeEventListener = ((...args: Parameters<typeof remove>) => (
      listeners--,
      remove(...args)
    )) as never;

    // Act
    for (let i = 0; i < 20; i++) await sleep(1, controller.signal);

    // Assert
    expect(listeners).toBe(0);
  });

  test('When the signal fires, then sleep resolves at once', async () => {
    // Arrange
    const controller = new AbortController();
    const started = Date.now();

    // Act
    const done = sleep(10_000, controller.signal);
    controller.abort();
    await done;

    // Assert
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test('When the signal has already fired, then sleep resolves at once without a timer', async () => {
    // Arrange
    const controller = new AbortController();
    controller.abort();
    const setTimer = jest.spyOn(global, 'setTimeout');
    const calls = setTimer.mock.calls.length;

    // Act
    await sleep(10_000, controller.signal);

    // Assert
    expect(setTimer.mock.calls.length).toBe(calls);
  });
});

describe('Semaphore', () => {
  test('When more tasks arrive than the limit, then at most the limit run at once and the rest run in arrival order', async () => {
    const gate = new Semaphore(3);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const release: Array<() => void> = [];
    const tasks = Array.from({ length: 10 }, (_, i) =>
      gate.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(i);
        await new Promise<void>((r) => release.push(r));
        running--;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(running).toBe(3);
    expect(gate.queued).toBe(7);
    while (release.length) {
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(3);
    expect(gate.peak).toBe(3);
    expect(gate.inFlight).toBe(0);
  });

  test('When a task fails, then its slot is freed for the next one', async () => {
    const gate = new Semaphore(1);
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(gate.run(async () => 'next')).resolves.toBe('next');
    expect(gate.inFlight).toBe(0);
  });
});

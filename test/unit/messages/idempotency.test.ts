import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createIdempotency, fingerprint, idempotencyScope, type SendOutcome } from '../../../src/messages/idempotency';
import { openDatabase, type Db } from '../../../src/store/database';

const ok = (id: string): SendOutcome => ({ kind: 'reply', status: 200, body: { success: true, messageId: id } });
const WINDOW = 60_000;

describe('idempotency', () => {
  let db: Db;
  let clock: number;
  const now = () => clock;

  beforeEach(() => {
    db = openDatabase(':memory:');
    clock = 1_000_000;
  });
  afterEach(() => db.close());

  test('When the same key repeats within the window, then the first answer is returned and nothing is sent again', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    const send = jest.fn(async () => ok('true_1'));
    const scope = idempotencyScope({ idempotencyKey: 'k1', hash: 'h' })!;

    // Act
    const first = await idem.run(scope, send);
    clock += WINDOW - 1;
    const second = await idem.run(scope, send);

    // Assert
    expect(send).toHaveBeenCalledTimes(1);
    expect(first).toEqual({ outcome: ok('true_1'), replayed: false });
    expect(second).toEqual({ outcome: ok('true_1'), replayed: true });
  });

  test('When the window has passed, then the key sends again', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    const send = jest.fn(async () => ok('true_1'));
    const scope = idempotencyScope({ idempotencyKey: 'k1', hash: 'h' })!;
    await idem.run(scope, send);

    // Act
    clock += WINDOW + 1;
    const again = await idem.run(scope, send);

    // Assert
    expect(send).toHaveBeenCalledTimes(2);
    expect(again.replayed).toBe(false);
  });

  test('When the same key comes with a different payload, then it is IDEMPOTENCY_KEY_REUSED (422)', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    await idem.run(idempotencyScope({ idempotencyKey: 'k1', hash: 'h1' }), async () => ok('true_1'));

    // Act
    const error = await idem
      .run(idempotencyScope({ idempotencyKey: 'k1', hash: 'h2' }), async () => ok('true_2'))
      .catch((e: unknown) => e);

    // Assert
    expect(error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
  });

  test('When two identical requests run concurrently, then only one sends and both get its answer', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const send = jest.fn(async () => {
      await gate;
      return ok('true_1');
    });
    const scope = idempotencyScope({ idempotencyKey: 'k1', hash: 'h' })!;

    // Act
    const a = idem.run(scope, send);
    const b = idem.run(scope, send);
    const c = idem.run({ ...scope, hash: 'other' }, send).catch((e: unknown) => e);
    release();
    const [ra, rb, rc] = await Promise.all([a, b, c]);

    // Assert
    expect(send).toHaveBeenCalledTimes(1);
    expect(ra.outcome).toEqual(rb.outcome);
    expect([ra.replayed, rb.replayed]).toEqual([false, true]);
    expect(rc).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  test.each<[string, SendOutcome, number]>([
    [
      'SEND_OUTCOME_UNKNOWN is remembered',
      { kind: 'error', status: 504, code: 'SEND_OUTCOME_UNKNOWN', message: 'm' },
      1,
    ],
    [
      'NUMBER_NOT_ON_WHATSAPP is remembered',
      { kind: 'error', status: 400, code: 'NUMBER_NOT_ON_WHATSAPP', message: 'm' },
      1,
    ],
    [
      'SESSION_DISCONNECTED is not (the caller may retry)',
      { kind: 'error', status: 409, code: 'SESSION_DISCONNECTED', message: 'm' },
      2,
    ],
    ['SEND_FAILED is not', { kind: 'error', status: 502, code: 'SEND_FAILED', message: 'm' }, 2],
    ['AUDIO_CONVERT_FAILED is not', { kind: 'error', status: 400, code: 'AUDIO_CONVERT_FAILED', message: 'm' }, 2],
  ])('When the outcome is an error: %s', async (_name, outcome, expectedSends) => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    const send = jest.fn(async () => outcome);
    const scope = idempotencyScope({ idempotencyKey: 'k', hash: 'h' });

    // Act
    await idem.run(scope, send);
    const second = await idem.run(scope, send);

    // Assert
    expect(send).toHaveBeenCalledTimes(expectedSends);
    expect(second.outcome).toEqual(outcome);
  });

  test('When a previous process died mid-send, then a repeat answers SEND_OUTCOME_UNKNOWN instead of sending', async () => {
    // Arrange: a pending row left by an attempt that never finished.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-idem-'));
    const first = openDatabase(dir);
    const dying = createIdempotency({ db: first, windowMs: WINDOW, now });
    let sending!: () => void;
    const sendStarted = new Promise<void>((resolve) => (sending = resolve));
    void dying.run(idempotencyScope({ idempotencyKey: 'k', hash: 'h' }), () => {
      sending();
      return new Promise<SendOutcome>(() => undefined);
    });
    // The process dies once the engine call is under way (its claim committed before it).
    await sendStarted;
    first.close();
    const reopened = openDatabase(dir);
    const idem = createIdempotency({ db: reopened, windowMs: WINDOW, now });
    const send = jest.fn(async () => ok('true_1'));

    // Act
    const result = await idem.run(idempotencyScope({ idempotencyKey: 'k', hash: 'h' }), send);

    // Assert
    expect(send).not.toHaveBeenCalled();
    expect(result).toMatchObject({
      replayed: true,
      outcome: { kind: 'error', code: 'SEND_OUTCOME_UNKNOWN', status: 504 },
    });
    reopened.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('When the send throws an unexpected error, then nothing is remembered', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    const scope = idempotencyScope({ idempotencyKey: 'k', hash: 'h' });
    await idem
      .run(scope, async () => {
        throw new Error('bug');
      })
      .catch(() => undefined);
    const send = jest.fn(async () => ok('true_1'));

    // Act
    const result = await idem.run(scope, send);

    // Assert
    expect(send).toHaveBeenCalledTimes(1);
    expect(result.replayed).toBe(false);
  });

  test('When rows are older than the window, then prune deletes them', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: WINDOW, now });
    await idem.run(idempotencyScope({ idempotencyKey: 'a', hash: 'h' }), async () => ok('1'));
    clock += WINDOW + 1;

    // Act
    const removed = await idem.prune();

    // Assert
    expect(removed).toBe(1);
  });
});

describe('idempotencyScope and fingerprint', () => {
  test('When only a request id is given, then the scope combines it with the payload hash', () => {
    expect(idempotencyScope({ requestId: 'abc', hash: 'h1' })).toEqual({ key: 'rid:abc:h1', hash: 'h1' });
    expect(idempotencyScope({ hash: 'h1' })).toBeNull();
  });

  test('When an Idempotency-Key is given, then it wins over the request id', () => {
    expect(idempotencyScope({ idempotencyKey: ' K ', requestId: 'abc', hash: 'h1' })).toEqual({
      key: 'key:K',
      hash: 'h1',
    });
  });

  test('When the key is over 255 characters, then it is VALIDATION_FAILED', () => {
    expect(() => idempotencyScope({ idempotencyKey: 'x'.repeat(256), hash: 'h' })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });

  test('When parts shift between fields, then the fingerprint differs', () => {
    expect(fingerprint(['ab', 'c'])).not.toBe(fingerprint(['a', 'bc']));
    expect(fingerprint(['a', null])).not.toBe(fingerprint(['a', '']));
    expect(fingerprint(['a', 'b'])).toBe(fingerprint(['a', 'b']));
  });
});

import type { EngineAdapter } from '../../../src/adapters/engine-adapter';
import { createMemoryLogger } from '../../../src/logger';
import {
  createIdempotency,
  idempotencyScope,
  isRemembered,
  type SendOutcome,
  truthfulOutcome,
} from '../../../src/messages/idempotency';
import { createMessageService } from '../../../src/messages/send-message';
import { openDatabase, type Db } from '../../../src/store/database';

/** Truth rules (docs/errors.md): a 2xx answer to a send always carries the WhatsApp message id, replays included. */

const CH = 'pixel12digital';
const ID = 'true_5511999999999@c.us_3EB0AA';
const withoutId: SendOutcome = {
  kind: 'reply',
  status: 200,
  body: { success: true, messageId: null, message_id: null, id: null, correlationId: 'r', status: 'sent' },
};
const withId: SendOutcome = { kind: 'reply', status: 200, body: { success: true, messageId: ID } };

describe('idempotency: never a 2xx without an id', () => {
  let db: Db;
  beforeEach(() => {
    db = openDatabase(':memory:');
  });
  afterEach(() => db.close());

  const rows = () =>
    db.prepare('SELECT status, response FROM idempotency').all() as Array<{ status: number; response: string }>;

  test('When a send comes back 2xx without an id, then SEND_OUTCOME_UNKNOWN is answered and stored, not the 2xx', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: 60_000 });
    const scope = idempotencyScope({ idempotencyKey: 'k1', hash: 'h' });

    // Act
    const first = await idem.run(scope, async () => withoutId);
    const again = await idem.run(scope, async () => withId);

    // Assert
    expect(first.outcome).toMatchObject({ kind: 'error', status: 504, code: 'SEND_OUTCOME_UNKNOWN' });
    expect(again).toMatchObject({ replayed: true, outcome: { kind: 'error', code: 'SEND_OUTCOME_UNKNOWN' } });
    expect(rows()).toHaveLength(1);
    expect(rows()[0].status).toBe(504);
    expect(rows()[0].response).not.toMatch(/"messageId":null/);
  });

  test('When a row stored by an older gateway is a 2xx with a null id, then the repeat gets SEND_OUTCOME_UNKNOWN', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: 60_000 });
    const scope = idempotencyScope({ idempotencyKey: 'legacy', hash: 'h' })!;
    db.prepare('INSERT INTO idempotency (key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?)').run(
      scope.key,
      scope.hash,
      200,
      JSON.stringify(withoutId),
      Date.now(),
    );
    const send = jest.fn(async () => withId);

    // Act
    const run = await idem.run(scope, send);

    // Assert
    expect(send).not.toHaveBeenCalled();
    expect(run.replayed).toBe(true);
    expect(run.outcome).toMatchObject({ kind: 'error', status: 504, code: 'SEND_OUTCOME_UNKNOWN' });
    expect((run.outcome as { message: string }).message).toMatch(/timeout.*may have been sent/i);
  });

  test('When concurrent repeats share a send that came back without an id, then none of them gets a 2xx', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: 60_000 });
    const scope = idempotencyScope({ idempotencyKey: 'k2', hash: 'h' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const send = jest.fn(async () => {
      await gate;
      return withoutId;
    });

    // Act
    const a = idem.run(scope, send);
    const b = idem.run(scope, send);
    release();
    const results = await Promise.all([a, b]);

    // Assert
    expect(send).toHaveBeenCalledTimes(1);
    expect(results.map((r) => r.outcome.status)).toEqual([504, 504]);
  });

  test('When there is no idempotency scope, then a 2xx without an id is still not answered as a success', async () => {
    // Arrange
    const idem = createIdempotency({ db, windowMs: 60_000 });

    // Act
    const run = await idem.run(null, async () => withoutId);

    // Assert
    expect(run.outcome).toMatchObject({ kind: 'error', code: 'SEND_OUTCOME_UNKNOWN' });
    expect(rows()).toEqual([]);
  });

  test('When outcomes are classified, then only a 2xx with an id is remembered as a reply', () => {
    expect(isRemembered(withId)).toBe(true);
    expect(isRemembered(withoutId)).toBe(false);
    expect(isRemembered({ ...withId, body: { success: true, messageId: '  ' } })).toBe(false);
    expect(truthfulOutcome(withId)).toBe(withId);
  });
});

describe('createMessageService: a send without an id', () => {
  function setup() {
    const db = openDatabase(':memory:');
    const noId = jest.fn(async () => ({ messageId: null }));
    const engine = { sendText: noId, sendVoice: noId, sendFile: noId } as unknown as EngineAdapter;
    const service = createMessageService({
      engine,
      channels: { resolve: () => CH, requireConnected: jest.fn(), reportNotActive: jest.fn() },
      idempotency: createIdempotency({ db, windowMs: 60_000 }),
      config: {
        messages: {
          sendDeadlineMs: 3_000,
          ffmpegPath: 'ffmpeg',
          ffmpegTimeLimitMs: 1_000,
          idempotencyWindowMs: 60_000,
        },
      },
      logger: createMemoryLogger(),
    });
    return { service, db };
  }
  const OGG = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(300, 1)]).toString('base64');
  const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200)]);

  test.each([
    ['text', { text: 'hi' }],
    ['audio', { type: 'audio', base64Ptt: OGG }],
    ['image', { type: 'image', base64: PNG.toString('base64') }],
    ['document', { type: 'document', base64: PNG.toString('base64') }],
    ['video', { type: 'video', url: 'https://cdn.test/v.mp4' }],
  ])('When the engine adapter gives no id for %s, then it rejects with SEND_OUTCOME_UNKNOWN', async (_kind, extra) => {
    // Arrange
    const { service, db } = setup();

    // Act
    const error = await service
      .send({ channel: CH, to: '5511999999999', ...extra }, { requestId: 'r1', idempotencyKey: `k-${_kind}` })
      .catch((e: unknown) => e);

    // Assert
    expect(error).toMatchObject({ code: 'SEND_OUTCOME_UNKNOWN', status: 504 });
    expect((error as Error).message).toMatch(/timeout.*may have been sent/i);
    const stored = db.prepare('SELECT status FROM idempotency').all() as Array<{ status: number }>;
    expect(stored).toEqual([{ status: 504 }]);
    db.close();
  });
});

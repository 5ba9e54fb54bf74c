import { createIdempotency, idempotencyScope, type SendOutcome } from '../../src/messages/idempotency';
import { PgIdempotencyStore } from '../../src/store/pg-idempotency-store';
import { openPostgres } from '../../src/store/postgres';
import { SqliteIdempotencyStore } from '../../src/store/sqlite-idempotency-store';
import { postgresHarness, sqliteHarness, usePostgres } from './harness';
import { idempotencyStoreContract } from './idempotency-store.contract';

/** The idempotency store contract on SQLite and on a real PostgreSQL; idempotent sends across two instances (issue 14). */

jest.setTimeout(60_000);

const server = usePostgres();
idempotencyStoreContract(
  'SQLite',
  sqliteHarness((db) => new SqliteIdempotencyStore(db)),
);
idempotencyStoreContract(
  'PostgreSQL',
  postgresHarness(server, (pool) => new PgIdempotencyStore(pool)),
);

describe('idempotent sends across gateway instances sharing PostgreSQL', () => {
  /** Two instances: each its own in-process state, one shared store on a fresh database. */
  async function twoInstances(
    pendingWaitMs: number | undefined,
    body: (instances: {
      store: PgIdempotencyStore;
      a: ReturnType<typeof createIdempotency>;
      b: ReturnType<typeof createIdempotency>;
    }) => Promise<void>,
  ): Promise<void> {
    const pool = await openPostgres(await server().database());
    try {
      const store = new PgIdempotencyStore(pool);
      const make = () => createIdempotency({ store, windowMs: 60_000, ...(pendingWaitMs ? { pendingWaitMs } : {}) });
      await body({ store, a: make(), b: make() });
    } finally {
      await pool.end();
    }
  }

  test('When two instances get the same Idempotency-Key at once, then the message is sent once and neither answer claims a second message', async () => {
    await twoInstances(undefined, async ({ a, b }) => {
      let sends = 0;
      const send = async (): Promise<SendOutcome> => {
        sends++;
        await new Promise((r) => setTimeout(r, 200));
        return { kind: 'reply', status: 200, body: { success: true, messageId: 'true_55119@c.us_3EB0ONCE' } };
      };
      const scope = idempotencyScope({ idempotencyKey: 'hub-42', hash: 'same-payload' });

      const [ra, rb] = await Promise.all([a.run(scope, send), b.run(scope, send)]);

      expect(sends).toBe(1);
      const answers = [ra, rb].sort((x, y) => Number(x.replayed) - Number(y.replayed));
      expect(answers[0]).toMatchObject({ replayed: false, outcome: { status: 200 } });
      // The other instance saw the attempt in flight: "may have been sent, do not resend" (504), never a second send.
      expect(answers[1]).toMatchObject({ replayed: true, outcome: { kind: 'error', code: 'SEND_OUTCOME_UNKNOWN' } });
      // A later repeat on either instance gets the stored answer with the one message id.
      const later = await b.run(scope, send);
      expect(later).toMatchObject({
        replayed: true,
        outcome: { status: 200, body: { messageId: 'true_55119@c.us_3EB0ONCE' } },
      });
      expect(sends).toBe(1);
    });
  });

  test('When instances share the store (GATEWAY_INSTANCE_URL), then a repeat that meets another instance’s send in flight waits for its answer and gets its message id', async () => {
    await twoInstances(5_000, async ({ a, b }) => {
      let sends = 0;
      const send = async (): Promise<SendOutcome> => {
        sends++;
        await new Promise((r) => setTimeout(r, 400));
        return { kind: 'reply', status: 200, body: { success: true, messageId: 'true_55119@c.us_3EB0WAITED' } };
      };
      const scope = idempotencyScope({ idempotencyKey: 'hub-wait', hash: 'same-payload' });

      const first = a.run(scope, send);
      await new Promise((r) => setTimeout(r, 50));
      const repeat = await b.run(scope, send);

      expect(repeat).toMatchObject({
        replayed: true,
        outcome: { status: 200, body: { messageId: 'true_55119@c.us_3EB0WAITED' } },
      });
      expect(await first).toMatchObject({ replayed: false, outcome: { status: 200 } });
      expect(sends).toBe(1);
    });
  });

  test('When the other instance’s attempt sent nothing, then the waiting repeat sends itself; when a pending attempt is older than the budget, then SEND_OUTCOME_UNKNOWN at once', async () => {
    await twoInstances(5_000, async ({ store, a, b }) => {
      const refused = async (): Promise<SendOutcome> => {
        await new Promise((r) => setTimeout(r, 200));
        throw new Error('engine unreachable: nothing sent');
      };
      const ok = async (): Promise<SendOutcome> => ({
        kind: 'reply',
        status: 200,
        body: { success: true, messageId: 'true_55119@c.us_3EB0SECOND' },
      });
      const scope = idempotencyScope({ idempotencyKey: 'hub-gone', hash: 'same-payload' });
      const first = a.run(scope, refused);
      await new Promise((r) => setTimeout(r, 50));
      expect(await b.run(scope, ok)).toMatchObject({
        replayed: false,
        outcome: { body: { messageId: 'true_55119@c.us_3EB0SECOND' } },
      });
      await expect(first).rejects.toThrow('nothing sent');

      // A pending row left 10 s ago by an instance that died mid-send: past the 5 s budget, answered at once.
      const deadScope = idempotencyScope({ idempotencyKey: 'hub-dead', hash: 'same-payload' })!;
      expect(await store.claim(deadScope.key, deadScope.hash, Date.now() - 10_000, Date.now() - 60_000)).toBe(true);
      const dead = await b.run(deadScope, ok);
      expect(dead).toMatchObject({ replayed: true, outcome: { kind: 'error', code: 'SEND_OUTCOME_UNKNOWN' } });
    });
  });
});

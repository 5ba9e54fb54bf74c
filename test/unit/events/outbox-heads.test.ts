import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { SubscriptionRepository } from '../../../src/events/subscription-repository';
import { openDatabase } from '../../../src/store/database';
import { SqliteOutboxStore } from '../../../src/store/sqlite-outbox-store';
import { SqliteSubscriptionStore } from '../../../src/store/sqlite-subscription-store';

/**
 * The SQLite outbox's claimDue() finds each (subscription, channel) pair's oldest pending delivery with a skip scan (issue 13);
 * checked here against the obvious definition over random histories: appends on several channels and
 * subscriptions, deliveries delivered, retried later or dead-lettered, subscriptions paused.
 */

type Op =
  | { kind: 'append'; channel: number }
  | { kind: 'deliver' | 'retry' | 'dead'; pick: number }
  | { kind: 'pause' | 'resume'; sub: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), channel: fc.nat({ max: 4 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('deliver' as const, 'retry' as const, 'dead' as const),
      pick: fc.nat(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constantFrom('pause' as const, 'resume' as const), sub: fc.nat({ max: 2 }) }),
  },
);

test('When deliveries come and go on many pairs, then claimDue() answers exactly the oldest pending delivery of each due, unpaused pair', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heads-'));
      const db = openDatabase(dir);
      try {
        let now = 1_000;
        const clock = () => now;
        const subs = new SubscriptionRepository(new SqliteSubscriptionStore(db), clock);
        const ids = [
          (await subs.setGlobal({ url: 'http://hub.test/a' })).id,
          (await subs.setForChannel('c1', { url: 'http://hub.test/b' })).id,
          (await subs.setForChannel('c3', { url: 'http://hub.test/c' })).id,
        ];
        const outbox = new SqliteOutboxStore(db, clock);
        let n = 0;
        for (const o of ops) {
          now += 10;
          const pending = db.prepare("SELECT id FROM deliveries WHERE state = 'pending' ORDER BY id").all() as {
            id: number;
          }[];
          if (o.kind === 'append') {
            const channel = `c${o.channel}`;
            const to = subs.match(channel, 'message').map((sub) => sub.id);
            await outbox.appendMany([
              { channelId: channel, type: 'message', eventId: `e${n++}`, body: '{}', subscriptionIds: to },
            ]);
          } else if (o.kind === 'pause') await subs.pause(ids[o.sub], 'test');
          else if (o.kind === 'resume') await subs.resume(ids[o.sub]);
          else if (pending.length && 'pick' in o) {
            const id = pending[o.pick % pending.length].id;
            if (o.kind === 'deliver') await outbox.markDelivered(id, 200);
            else if (o.kind === 'dead') await outbox.markDead(id, 500, 'gone');
            else await outbox.markRetry(id, now + 25, 503, 'later');
          }
        }
        const expected = (
          db
            .prepare(
              `SELECT d.id FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id AND s.paused = 0
               WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND d.id = (
                 SELECT MIN(p.id) FROM deliveries p WHERE p.state = 'pending'
                   AND p.subscription_id = d.subscription_id AND p.channel_id = d.channel_id)
               ORDER BY d.id`,
            )
            .all(now) as { id: number }[]
        ).map((r) => r.id);
        expect((await outbox.claimDue('worker', 1_000, 60_000)).map((d) => d.id)).toEqual(expected);
      } finally {
        db.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 150, seed: 20261201 },
  );
});

import { ChannelRepository } from '../../src/store/channel-repository';
import { PgChannelStore } from '../../src/store/pg-channel-store';
import { openPostgres } from '../../src/store/postgres';
import { SqliteChannelStore } from '../../src/store/sqlite-channel-store';
import { type ChannelFixture, channelStoreContract } from './channel-store.contract';
import { relayTo } from '../helpers/postgres';
import { postgresHarness, sqliteHarness, usePostgres } from './harness';

/** The channel store contract on SQLite and on a real PostgreSQL (issue 14); PostgreSQL going away and coming back. */

jest.setTimeout(60_000);

const server = usePostgres();

channelStoreContract(
  'SQLite',
  sqliteHarness((db): ChannelFixture => ({
    store: new SqliteChannelStore(db),
    reopen: () => new SqliteChannelStore(db),
  })),
);

channelStoreContract(
  'PostgreSQL',
  postgresHarness(server, (pool): ChannelFixture => ({
    store: new PgChannelStore(pool),
    reopen: () => new PgChannelStore(pool),
  })),
);

describe('the channel registry on PostgreSQL when PostgreSQL goes away', () => {
  test('When PostgreSQL is unreachable for a while, then writes wait in order, the gateway keeps answering from memory, and everything lands when it is back', async () => {
    const url = new URL(await server().database());
    const direct = await openPostgres(url.toString());
    const relay = await relayTo(Number(url.port));
    url.port = String(relay.port);
    const viaRelay = await openPostgres(url.toString(), { connectTimeoutMs: 500 });
    const errors: boolean[] = [];
    try {
      const store = new PgChannelStore(viaRelay, {
        onWriteError: (_error, willRetry) => errors.push(willRetry),
        retryDelayMs: () => 50,
      });
      const repo = new ChannelRepository(store);
      await repo.load();
      repo.create('c1');
      await repo.flush();

      relay.cut();
      repo.update('c1', { status: 'qr_required', engineStatus: 'QRCODE' });
      repo.create('c2');
      repo.update('c1', { status: 'connected', engineStatus: 'CONNECTED' });
      repo.delete('c2');
      await new Promise((r) => setTimeout(r, 300));

      expect(repo.get('c1')?.status).toBe('connected');
      expect(store.backlog).toBeGreaterThan(0);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((retry) => retry)).toBe(true);

      relay.restore();
      await repo.flush();

      const fresh = new ChannelRepository(new PgChannelStore(direct));
      await fresh.load();
      expect(fresh.list().map((c) => [c.id, c.status])).toEqual([['c1', 'connected']]);
      expect(fresh.isTombstoned('c2')).toBe(true);
      expect(store.backlog).toBe(0);
    } finally {
      await viaRelay.end();
      await direct.end();
      await relay.close();
    }
  });
});

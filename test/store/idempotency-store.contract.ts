import { type StoreHarness, useStore } from './harness';
import type { IdempotencyStore } from '../../src/store/idempotency-store';

/** The idempotency store's contract (src/store/idempotency-store.ts); idempotency-store.test.ts runs it on both stores. */

const T0 = 1_800_000_000_000;
const WINDOW = 60_000;

export function idempotencyStoreContract(name: string, harness: () => StoreHarness<IdempotencyStore>): void {
  describe(`idempotency store contract: ${name}`, () => {
    const current = useStore(harness);
    let store: IdempotencyStore;
    beforeEach(() => {
      store = current();
    });

    test('When a key is new, then the first claim wins with a pending row and a second claim loses', async () => {
      expect(await store.claim('k1', 'h1', T0, T0 - WINDOW)).toBe(true);
      expect(await store.claim('k1', 'h2', T0 + 1, T0 + 1 - WINDOW)).toBe(false);

      expect(await store.get('k1')).toEqual({ hash: 'h1', status: 0, response: '{}', createdAt: T0 });
    });

    test('When an attempt settles, then its answer is kept and the key stays claimed', async () => {
      await store.claim('k1', 'h1', T0, T0 - WINDOW);

      await store.settle('k1', 'h1', 200, '{"kind":"reply"}', T0 + 5);

      expect(await store.get('k1')).toEqual({
        hash: 'h1',
        status: 200,
        response: '{"kind":"reply"}',
        createdAt: T0 + 5,
      });
      expect(await store.claim('k1', 'h1', T0 + 10, T0 + 10 - WINDOW)).toBe(false);
    });

    test('When a row is older than the window, then a new claim replaces it', async () => {
      await store.claim('k1', 'h1', T0, T0 - WINDOW);
      await store.settle('k1', 'h1', 200, '{}', T0);

      expect(await store.claim('k1', 'h2', T0 + WINDOW + 1, T0 + 1)).toBe(true);

      expect(await store.get('k1')).toMatchObject({ hash: 'h2', status: 0, createdAt: T0 + WINDOW + 1 });
    });

    test('When an attempt is forgotten (nothing was sent), then the key can be claimed again at once', async () => {
      await store.claim('k1', 'h1', T0, T0 - WINDOW);

      await store.forget('k1');

      expect(await store.get('k1')).toBeUndefined();
      expect(await store.claim('k1', 'h1', T0 + 1, T0 + 1 - WINDOW)).toBe(true);
    });

    test('When old rows are pruned, then only rows created before the cut go, and the count says how many', async () => {
      await store.claim('old1', 'h', T0, T0 - WINDOW);
      await store.claim('old2', 'h', T0 + 1, T0 - WINDOW);
      await store.claim('new', 'h', T0 + WINDOW, T0);

      expect(await store.prune(T0 + 10)).toBe(2);

      expect(await store.get('new')).toBeDefined();
      expect(await store.get('old1')).toBeUndefined();
    });

    test('When many attempts claim one key at once, then exactly one wins', async () => {
      const results = await Promise.all(
        Array.from({ length: 16 }, (_, i) => store.claim('race', `h${i}`, T0, T0 - WINDOW)),
      );

      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}

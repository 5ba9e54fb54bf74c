import type { EngineAdapter, EngineEvent } from '../../../src/adapters/engine-adapter';
import { GatewayError } from '../../../src/errors';
import { createEngineEventIntake } from '../../../src/events/engine-event-intake';
import { createMemoryLogger } from '../../../src/logger';
import type { ChannelRecord } from '../../../src/store/channel-repository';

/** The engine-event intake when the outbox cannot store (PostgreSQL away): no false acknowledgement, state still kept. */

const status: EngineEvent = { kind: 'status', raw: 'CONNECTED', status: 'CONNECTED' } as unknown as EngineEvent;

function intake(ingest: () => Promise<unknown>) {
  const applied: string[] = [];
  const run = createEngineEventIntake({
    engine: { parseEvent: async () => status } as unknown as EngineAdapter,
    channels: {
      onEngineEvent: async (id: string) => {
        applied.push(id);
      },
    },
    repo: { findByIntakeToken: (id: string) => ({ id }) as ChannelRecord },
    pipeline: { ingestEngineEvent: ingest },
    logger: createMemoryLogger(),
  });
  return { run, applied };
}

test('When the event is stored, then the intake acknowledges it and the channel applies it', async () => {
  const { run, applied } = intake(async () => ({ published: true }));

  await expect(run('c1', 'token', {}, 'r1')).resolves.toBe(true);

  expect(applied).toEqual(['c1']);
});

test('When the store cannot keep the event, then the intake fails with the store error while the channel still applies it', async () => {
  const { run, applied } = intake(async () => {
    throw new GatewayError('STORE_UNAVAILABLE');
  });

  await expect(run('c1', 'token', {}, 'r1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });

  expect(applied).toEqual(['c1']);
});

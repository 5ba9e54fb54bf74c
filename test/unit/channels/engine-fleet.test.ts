import type { EngineAdapter, EngineCallRecord, SessionState } from '../../../src/adapters/engine-adapter';
import { EngineCircuit } from '../../../src/adapters/engine-circuit';
import { EngineFleet, type EngineMember } from '../../../src/channels/engine-fleet';
import { noDiagnostics } from '../../../src/channels/diagnostics';
import { isGatewayError } from '../../../src/errors';
import { ChannelRepository } from '../../../src/store/channel-repository';
import { openDatabase } from '../../../src/store/database';

/** Placement and routing over several engines (issue 14), without HTTP: stub adapters that record who was asked. */

interface StubEngine extends EngineAdapter {
  asked: string[];
  sessions: string[];
  emit(record: EngineCallRecord): void;
}

function stub(name: string): StubEngine {
  const asked: string[] = [];
  const observers: Array<(r: EngineCallRecord) => void> = [];
  const state = (s: string): SessionState => {
    asked.push(`status ${s}`);
    return { status: 'CONNECTED', qr: null };
  };
  const engine = {
    name,
    asked,
    sessions: [] as string[],
    emit: (record: EngineCallRecord) => observers.forEach((o) => o(record)),
    onCall: (o: (r: EngineCallRecord) => void) => void observers.push(o),
    health: async () => {
      asked.push('health');
      return { reachable: true };
    },
    listSessions: async () => {
      asked.push('list');
      return engine.sessions;
    },
    getStatus: async (s: string) => state(s),
    sendText: async (s: string) => {
      asked.push(`send ${s}`);
      return { messageId: `${name}-id` };
    },
    forgetSession: (s: string) => void asked.push(`forget ${s}`),
  };
  return engine as unknown as StubEngine;
}

function setup(capacities: Array<number | null>) {
  const repo = new ChannelRepository(openDatabase(':memory:'));
  const engines = capacities.map((_, i) => stub(`e${i}`));
  const members: EngineMember[] = capacities.map((capacity, i) => ({
    id: ['a', 'b', 'c'][i],
    url: `http://engine-${i}`,
    capacity,
    engine: engines[i],
    circuit: new EngineCircuit({ threshold: 1, cooldownMs: 1_000 }),
    diagnostics: noDiagnostics,
  }));
  return { repo, engines, members, fleet: new EngineFleet(members, repo) };
}

/** Creates `n` channels as a create does: placed, then stored on that engine. */
function place(repo: ChannelRepository, fleet: EngineFleet, n: number, prefix = 'ch'): string[] {
  const placed: string[] = [];
  for (let i = 0; i < n; i++) {
    const member = fleet.place();
    repo.create(`${prefix}${i}`, { engineId: member.id });
    placed.push(member.id);
  }
  return placed;
}

describe('EngineFleet placement', () => {
  test('When 24 channels are placed on engines of capacity 10 and 20, then the emptier engine takes each one and both fill by capacity', () => {
    const { repo, fleet } = setup([10, 20]);

    const placed = place(repo, fleet, 24);

    expect(placed.slice(0, 10)).toEqual(Array(10).fill('b'));
    expect(placed.filter((id) => id === 'a')).toHaveLength(7);
    expect(placed.filter((id) => id === 'b')).toHaveLength(17);
    expect(fleet.summaries().map((s) => [s.id, s.channels, s.free])).toEqual([
      ['a', 7, 3],
      ['b', 17, 3],
    ]);
  });

  test('When an engine has no capacity limit, then it counts as the one with the most room', () => {
    const { repo, fleet } = setup([50, null]);
    expect(place(repo, fleet, 3)).toEqual(['b', 'b', 'b']);
  });

  test('When an engine is unreachable or refuses its secret key, then it is skipped even with the most room', () => {
    const { repo, fleet, members } = setup([100, 1, 100]);
    members[0].circuit!.failed('connect ECONNREFUSED', true);
    members[2].circuit!.auth(false);

    expect(place(repo, fleet, 1)).toEqual(['b']);
  });

  test('When every engine is full or unhealthy, then NO_ENGINE_CAPACITY says why for each one', () => {
    const { repo, fleet, members } = setup([1, 5]);
    members[1].circuit!.failed('connect ECONNREFUSED', true);
    repo.create('on-a', { engineId: 'a' });

    let error: unknown;
    try {
      fleet.place();
    } catch (e) {
      error = e;
    }

    expect(isGatewayError(error) && error.code).toBe('NO_ENGINE_CAPACITY');
    expect((error as { details?: unknown }).details).toEqual({
      engines: { a: 'full (1 of 1 channels)', b: 'unreachable (connect ECONNREFUSED)' },
    });
  });

  test('When there is only one engine, then its health never blocks a placement (its own error answers the create)', () => {
    const { repo, fleet, members } = setup([null]);
    members[0].circuit!.failed('connect ECONNREFUSED', true);
    expect(place(repo, fleet, 1)).toEqual(['a']);
  });

  test('When a stored channel names an engine that is no longer configured, or none, then it counts on the first engine', () => {
    const { repo, fleet } = setup([5, 5]);
    repo.create('legacy');
    repo.create('gone', { engineId: 'removed' });
    expect(fleet.memberOf(repo.get('legacy')!).id).toBe('a');
    expect(fleet.counts().get('a')).toEqual({ channels: 2, load: 2 });
  });
});

describe('EngineFleet load', () => {
  test("When adopted sessions are not running (stale names from the engine's token store), then they do not fill the capacity; once running they do", () => {
    const { repo, fleet } = setup([2, 2]);
    for (let i = 0; i < 30; i++) repo.create(`stale${i}`, { adopted: true, engineId: 'a' });
    repo.create('live-adopted', { adopted: true, engineId: 'a', status: 'connected' });

    expect(fleet.summaries()[0]).toMatchObject({ id: 'a', channels: 31, load: 1, free: 1, placeable: true });
    expect(place(repo, fleet, 1)).toEqual(['b']);
    repo.update('stale0', { status: 'starting' });
    expect(fleet.summaries()[0]).toMatchObject({ channels: 31, load: 2, free: 0, placeable: false });
  });
});

describe('EngineFleet routing', () => {
  test("When a channel's engine calls are made through the fleet adapter, then they reach that channel's engine only", async () => {
    const { repo, fleet, engines } = setup([5, 5]);
    repo.create('onb', { engineId: 'b' });

    const sent = await fleet.adapter().sendText('onb', { to: '55119', isGroup: false, text: 'oi' });

    expect(sent.messageId).toBe('e1-id');
    expect(engines[1].asked).toEqual(['send onb']);
    expect(engines[0].asked).toEqual([]);
  });

  test("When a channel's own adapter checks health, then only that channel's engine is asked", async () => {
    const { repo, fleet, engines } = setup([5, 5]);
    repo.create('onb', { engineId: 'b' });

    await fleet.boundTo('onb').health();

    expect(engines[1].asked).toEqual(['health']);
    expect(engines[0].asked).toEqual([]);
  });

  test('When a session that is not a channel was listed by an engine, then its calls go to that engine', async () => {
    const { fleet, engines } = setup([5, 5]);
    engines[1].sessions = ['Stranger'];

    expect(await fleet.adapter().listSessions()).toEqual(['Stranger']);
    await fleet.adapter().getStatus('stranger');
    fleet.adapter().forgetSession('stranger');

    expect(engines[1].asked).toEqual(['list', 'status stranger', 'forget stranger']);
    expect(engines[0].asked).toEqual(['list']);
  });

  test('When an engine reports a call, then the record names that engine', () => {
    const { fleet, engines } = setup([5, 5]);
    const seen: Array<string | undefined> = [];
    fleet.adapter().onCall((r) => seen.push(r.engine));

    engines[1].emit({ at: 0, route: 'status-session', outcome: 'ok', durationMs: 1 });
    engines[0].emit({ at: 0, route: 'status-session', outcome: 'ok', durationMs: 1 });

    expect(seen).toEqual(['b', 'a']);
  });
});

describe('channels stored before several engines', () => {
  test('When channels without an engine are claimed by the first engine, then they stay on it even if the engines are reordered later', () => {
    const repo = new ChannelRepository(openDatabase(':memory:'));
    repo.create('legacy1');
    repo.create('legacy2');
    repo.create('placed', { engineId: 'b' });

    expect(repo.claimUnplaced('a')).toBe(2);

    expect(repo.list().map((r) => [r.id, r.engineId])).toEqual([
      ['legacy1', 'a'],
      ['legacy2', 'a'],
      ['placed', 'b'],
    ]);
    expect(repo.claimUnplaced('b')).toBe(0);
  });
});

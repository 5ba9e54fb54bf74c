import fs from 'node:fs';
import path from 'node:path';
import {
  beginAttempt,
  initialState,
  LIFECYCLE_EDGES,
  type LifecycleEffect,
  type LifecycleInput,
  type LifecycleState,
  STARTUP_CLOSED_GRACE_MS,
  transition,
} from '../../../src/channels/lifecycle';
import type { EngineStatus } from '../../../src/adapters/engine-adapter';
import type { ChannelStatus } from '../../../src/store/channel-repository';

/**
 * The channel lifecycle's transition table, every state × input: the phase it moves to and the effects it asks for.
 * Pure: no engine, no clock, no timers.
 */

const NOW = 1_000_000;
const QR = { dataUrl: 'data:image/png;base64,iVBORw0KGgo=', urlcode: '2@ref' };
const PHASES: ChannelStatus[] = ['disconnected', 'starting', 'qr_required', 'connected', 'failed'];
const START_DEADLINE_MS = 60_000;

/** A state in `phase`, with an attempt that began `attemptAgeMs` ago (starting / qr_required) and a QR when waiting. */
function stateIn(phase: ChannelStatus, attemptAgeMs = 1_000): LifecycleState {
  const attempt = phase === 'starting' || phase === 'qr_required';
  return {
    ...initialState(phase),
    generation: 3,
    version: 7,
    attemptStartedAt: attempt ? NOW - attemptAgeMs : null,
    hasQr: phase === 'qr_required',
  };
}

const poll = (status: EngineStatus) =>
  ({
    kind: 'engine-state',
    source: 'poll',
    status,
    qr: status === 'QRCODE' ? QR : null,
    now: NOW,
    sent: { generation: 3, version: 7 },
  }) satisfies LifecycleInput;
const find = (
  name: Extract<LifecycleInput, { kind: 'status-find' }>['find'],
  extra: Partial<Extract<LifecycleInput, { kind: 'status-find' }>> = {},
) =>
  ({
    kind: 'status-find',
    find: name,
    now: NOW,
    lifecycleBusy: false,
    ownBrowserCloseUntil: 0,
    startDeadlineMs: START_DEADLINE_MS,
    ...extra,
  }) satisfies LifecycleInput;

/** `=` keeps the phase; otherwise the phase it moves to. Effects listed by kind, in order. */
type Cell = [to: ChannelStatus | '=', effects: LifecycleEffect['kind'][]];
type Row = [label: string, input: LifecycleInput, cells: Record<ChannelStatus, Cell>];

const same = (effects: LifecycleEffect['kind'][]): Cell => ['=', effects];

const TABLE: Row[] = [
  [
    'engine CONNECTED (poll)',
    poll('CONNECTED'),
    {
      disconnected: ['connected', ['transition']],
      starting: ['connected', ['transition']],
      qr_required: ['connected', ['clear-qr', 'transition']],
      connected: same(['transition']),
      failed: ['connected', ['transition']],
    },
  ],
  [
    'engine QRCODE with a QR (poll)',
    poll('QRCODE'),
    {
      disconnected: ['qr_required', ['set-qr', 'transition']],
      starting: ['qr_required', ['set-qr', 'transition']],
      qr_required: same(['set-qr', 'transition']),
      connected: ['qr_required', ['set-qr', 'transition']],
      failed: ['qr_required', ['set-qr', 'transition']],
    },
  ],
  [
    'engine INITIALIZING (poll)',
    poll('INITIALIZING'),
    {
      disconnected: ['starting', ['transition']],
      starting: same(['engine-status']),
      qr_required: ['starting', ['transition']],
      connected: ['starting', ['transition']],
      failed: same(['engine-status']),
    },
  ],
  [
    'engine CLOSED within the startup grace (poll)',
    poll('CLOSED'),
    {
      disconnected: same(['transition']),
      starting: same(['engine-status']),
      qr_required: ['disconnected', ['clear-qr', 'transition']],
      connected: ['disconnected', ['transition']],
      failed: same(['engine-status']),
    },
  ],
  [
    'a stale poll (sent before the last change)',
    { ...poll('QRCODE'), sent: { generation: 3, version: 6 } },
    {
      disconnected: same(['ignore']),
      starting: same(['ignore']),
      qr_required: same(['ignore']),
      connected: same(['ignore']),
      failed: same(['ignore']),
    },
  ],
  [
    'a poll from an older start attempt',
    { ...poll('CONNECTED'), sent: { generation: 2, version: 7 } },
    {
      disconnected: same(['ignore']),
      starting: same(['ignore']),
      qr_required: same(['ignore']),
      connected: same(['ignore']),
      failed: same(['ignore']),
    },
  ],
  [
    'qrcode webhook',
    { kind: 'qr-event', qr: QR, now: NOW },
    {
      disconnected: ['qr_required', ['set-qr', 'transition']],
      starting: ['qr_required', ['set-qr', 'transition']],
      qr_required: same(['set-qr', 'transition']),
      connected: same(['ignore']),
      failed: ['qr_required', ['set-qr', 'transition']],
    },
  ],
  [
    'closesession webhook',
    { kind: 'session-closed', reason: 'closesession', lifecycleBusy: false },
    {
      disconnected: same(['transition']),
      starting: ['disconnected', ['transition']],
      qr_required: ['disconnected', ['clear-qr', 'transition']],
      connected: ['disconnected', ['transition']],
      failed: same([]),
    },
  ],
  [
    'closesession webhook during our own restart (echo)',
    { kind: 'session-closed', reason: 'closesession', lifecycleBusy: true },
    Object.fromEntries(PHASES.map((p) => [p, same(['ignore'])])) as Record<ChannelStatus, Cell>,
  ],
  [
    'inChat',
    find('inChat'),
    {
      disconnected: ['connected', ['transition']],
      starting: ['connected', ['transition']],
      qr_required: ['connected', ['clear-qr', 'transition']],
      connected: same(['transition']),
      failed: ['connected', ['transition']],
    },
  ],
  [
    'browserClose',
    find('browserClose'),
    {
      disconnected: same(['ignore']),
      starting: same(['note', 'recover']),
      qr_required: ['disconnected', ['clear-qr', 'transition']],
      connected: same(['zombie', 'recover']),
      failed: same(['ignore']),
    },
  ],
  [
    'browserClose of a browser the gateway just ended',
    find('browserClose', { ownBrowserCloseUntil: NOW + 5_000 }),
    {
      disconnected: same(['ignore']),
      starting: same(['ignore']),
      qr_required: ['disconnected', ['clear-qr', 'transition']],
      connected: same(['zombie', 'recover']),
      failed: same(['ignore']),
    },
  ],
  [
    'browserClose during our own restart (echo)',
    find('browserClose', { lifecycleBusy: true }),
    Object.fromEntries(PHASES.map((p) => [p, same(['ignore'])])) as Record<ChannelStatus, Cell>,
  ],
  [
    'qrReadError / autoclose',
    find('qrReadError'),
    {
      disconnected: same(['ignore']),
      starting: same(['ignore']),
      qr_required: ['disconnected', ['clear-qr', 'transition']],
      connected: same(['ignore']),
      failed: same(['ignore']),
    },
  ],
  [
    'disconnectedMobile',
    find('disconnectedMobile'),
    {
      disconnected: same(['ignore']),
      starting: same(['ignore']),
      qr_required: same(['ignore']),
      connected: ['disconnected', ['transition']],
      failed: same(['ignore']),
    },
  ],
  [
    'phoneNotConnected',
    find('phoneNotConnected'),
    {
      disconnected: same(['note']),
      starting: same(['note']),
      qr_required: same(['note']),
      connected: same(['ignore']),
      failed: same(['note']),
    },
  ],
  [
    'start failed, repairable here (a leftover browser on this host)',
    {
      kind: 'start-failed',
      code: 'BROWSER_ALREADY_RUNNING',
      lastError: { code: 'BROWSER_ALREADY_RUNNING', message: 'm' },
      repairable: true,
      leftoverSuspected: false,
    },
    Object.fromEntries(PHASES.map((p) => [p, same(['failure', 'recover'])])) as Record<ChannelStatus, Cell>,
  ],
  [
    'start failed, nothing here can fix it (another host)',
    {
      kind: 'start-failed',
      code: 'BROWSER_ALREADY_RUNNING',
      lastError: { code: 'BROWSER_ALREADY_RUNNING', message: 'm' },
      repairable: false,
      leftoverSuspected: false,
    },
    Object.fromEntries(
      PHASES.map((p) => [p, p === 'failed' ? same(['failure', 'transition']) : ['failed', ['failure', 'transition']]]),
    ) as Record<ChannelStatus, Cell>,
  ],
  [
    'start failed, a retry may help (WhatsApp Web unreachable)',
    {
      kind: 'start-failed',
      code: 'WA_WEB_UNREACHABLE',
      lastError: { code: 'WA_WEB_UNREACHABLE', message: 'm' },
      repairable: false,
      leftoverSuspected: false,
    },
    Object.fromEntries(PHASES.map((p) => [p, same(['failure', 'recover'])])) as Record<ChannelStatus, Cell>,
  ],
  [
    'start stuck again after a pre-login close from another host',
    {
      kind: 'start-failed',
      code: 'ENGINE_START_STUCK',
      lastError: { code: 'ENGINE_START_STUCK', message: 'm' },
      repairable: false,
      leftoverSuspected: true,
    },
    Object.fromEntries(
      PHASES.map((p) => [p, p === 'failed' ? same(['failure', 'transition']) : ['failed', ['failure', 'transition']]]),
    ) as Record<ChannelStatus, Cell>,
  ],
];

describe('lifecycle transition table (every state × input)', () => {
  const cases = TABLE.flatMap(([label, input, cells]) =>
    PHASES.map((phase) => [label, phase, input, cells[phase]] as const),
  );
  test.each(cases)('%s while %s', (_label, phase, input, [to, kinds]) => {
    const before = stateIn(phase);
    const { state, effects } = transition(before, input);
    expect(state.phase).toBe(to === '=' ? phase : to);
    expect(effects.map((e) => e.kind)).toEqual(kinds);
  });

  test('When the engine says CLOSED after the startup grace, then a starting channel is disconnected', () => {
    const { state } = transition(stateIn('starting', STARTUP_CLOSED_GRACE_MS + 1), poll('CLOSED'));
    expect(state.phase).toBe('disconnected');
    expect(state.attemptStartedAt).toBeNull();
  });

  test('When browserClose arrives after the start deadline, then a starting channel is not recovered again', () => {
    const { effects } = transition(stateIn('starting', START_DEADLINE_MS + 1), find('browserClose'));
    expect(effects.map((e) => e.kind)).toEqual(['ignore']);
  });

  test('When any change is applied, then the version moves on, so polls sent before it are discarded', () => {
    const before = stateIn('qr_required');
    const { state } = transition(before, find('inChat'));
    expect(state.version).toBeGreaterThan(before.version);
    expect(transition(state, poll('QRCODE')).effects).toEqual([expect.objectContaining({ kind: 'ignore' })]);
  });

  test('When a start attempt begins, then the generation moves on and the attempt has no QR yet', () => {
    const before = stateIn('qr_required');
    const next = beginAttempt(before, NOW + 10);
    expect(next).toMatchObject({ generation: before.generation + 1, attemptStartedAt: NOW + 10, hasQr: false });
    expect(next.version).toBeGreaterThan(before.version);
  });

  test('When the transition runs, then it does not change the state it was given (pure)', () => {
    const before = stateIn('connected');
    const frozen = JSON.stringify(before);
    transition(before, find('browserClose'));
    transition(before, poll('CLOSED'));
    expect(JSON.stringify(before)).toBe(frozen);
  });
});

describe('docs/lifecycle.md', () => {
  test('When the docs are read, then the diagram has exactly the edges of LIFECYCLE_EDGES', () => {
    const doc = fs.readFileSync(path.join(__dirname, '../../../docs/lifecycle.md'), 'utf8');
    const drawn = [...doc.matchAll(/^\s+(\w+) --> (\w+): (.+)$/gm)].map((m) => ({ from: m[1], to: m[2], on: m[3] }));
    expect(drawn).toEqual(LIFECYCLE_EDGES.map((e) => ({ ...e })));
  });
});

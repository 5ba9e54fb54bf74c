import { GatewayError } from '../errors';

/**
 * The gateway's own view of the engine's health, fed by every engine call and by a cheap probe, with a circuit
 * breaker in front of the engine. While the engine is unreachable, callers fail fast with 503 ENGINE_UNREACHABLE and
 * `Retry-After` instead of piling up connect timeouts, and nothing may claim CONNECTED, a QR or a sent message.
 *
 * - closed: calls go out. `threshold` consecutive transport failures (connection refused or reset, or a timeout of a
 *   cheap route), or one failed probe, open it.
 * - open: calls fail at once, except probes. After `cooldownMs` a probe may run (half-open).
 * - half-open: only the probe goes out; a successful one closes the circuit, a failed one opens it for another
 *   cooldown.
 *
 * Authentication is tracked beside it: a refused SECRET_KEY does not open the circuit (the engine answers), but health
 * says so.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface EngineHealthSnapshot {
  state: CircuitState;
  /** The engine answered the last call or probe. */
  reachable: boolean;
  /** false: the engine refused our SECRET_KEY; null: not known yet. */
  secretKeyAccepted: boolean | null;
  /** When the circuit last opened, and why (ms epoch; a sentence). */
  downSince: number | null;
  lastFailure: string | null;
  consecutiveFailures: number;
  /** When a probe may run again while open (ms epoch). */
  retryAt: number | null;
}

export interface EngineCircuitOptions {
  threshold: number;
  cooldownMs: number;
  now?: () => number;
}

export type CircuitListener = (state: CircuitState, previous: CircuitState, snapshot: EngineHealthSnapshot) => void;

export class EngineCircuit {
  private state: CircuitState = 'closed';
  private failures = 0;
  private openedAt: number | null = null;
  private lastFailure: string | null = null;
  private reachable = true;
  private secretKeyAccepted: boolean | null = null;
  private readonly listeners: CircuitListener[] = [];
  private readonly now: () => number;

  constructor(private readonly options: EngineCircuitOptions) {
    this.now = options.now ?? Date.now;
  }

  onChange(listener: CircuitListener): void {
    this.listeners.push(listener);
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** The engine refused our SECRET_KEY on its last authenticated call. */
  get refusesSecret(): boolean {
    return this.secretKeyAccepted === false;
  }

  snapshot(): EngineHealthSnapshot {
    return {
      state: this.state,
      reachable: this.reachable,
      secretKeyAccepted: this.secretKeyAccepted,
      downSince: this.openedAt,
      lastFailure: this.lastFailure,
      consecutiveFailures: this.failures,
      retryAt: this.openedAt === null ? null : this.retryAt(),
    };
  }

  /** Throws ENGINE_UNREACHABLE (with Retry-After) when a normal call may not go out now. Probes always may. */
  assertCallable(probe = false): void {
    if (this.state === 'closed' || probe) return;
    const waitMs = Math.max(0, this.retryAt() - this.now());
    throw new GatewayError('ENGINE_UNREACHABLE', {
      message: `The WhatsApp engine (WPPConnect) cannot be reached${this.lastFailure ? `: ${this.lastFailure}` : ''}`,
      retryAfterSeconds: Math.max(1, waitMs / 1000),
      details: { engine: 'unreachable', since: new Date(this.openedAt ?? this.now()).toISOString() },
    });
  }

  /** A probe may go out now (closed: at its interval; open: once the cooldown passed). */
  probeDue(): boolean {
    return this.state !== 'open' || this.now() >= this.retryAt();
  }

  /** The engine answered (any HTTP status): it is reachable. */
  succeeded(probe = false): void {
    this.reachable = true;
    this.failures = 0;
    if (this.state === 'closed') return;
    // Open: only a probe closes it, so one lucky call during an outage does not flap the state.
    if (probe || this.state === 'half-open') this.move('closed');
  }

  /** A transport failure (unreachable, or a timeout where the engine should answer at once). */
  failed(reason: string, probe = false): void {
    this.reachable = false;
    this.lastFailure = reason;
    this.failures++;
    if (this.state === 'closed' && (probe || this.failures >= this.options.threshold)) {
      this.openedAt = this.now();
      this.move('open');
    } else if (this.state !== 'closed' && probe) {
      this.openedAt = this.now();
      if (this.state === 'half-open') this.move('open');
    }
  }

  /** The engine answered an authenticated call (true) or refused our SECRET_KEY (false). */
  auth(accepted: boolean): void {
    this.secretKeyAccepted = accepted;
  }

  /** A probe is about to run while open: half-open until it answers. */
  probing(): void {
    if (this.state === 'open' && this.now() >= this.retryAt()) this.move('half-open');
  }

  private retryAt(): number {
    return (this.openedAt ?? this.now()) + this.options.cooldownMs;
  }

  private move(next: CircuitState): void {
    const previous = this.state;
    if (previous === next) return;
    this.state = next;
    if (next === 'closed') this.openedAt = null;
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(next, previous, snapshot);
  }
}

import type { EngineAdapter } from '../adapters/engine-adapter';
import type { EngineCircuit } from '../adapters/engine-circuit';
import type { Logger } from '../logger';

export interface EngineMonitorOptions {
  engine: EngineAdapter;
  circuit: EngineCircuit;
  /** Probe period while the engine answers; 0 disables the background probe (engine calls still feed the circuit). */
  intervalMs: number;
  /** Probe period while the circuit is open. */
  cooldownMs: number;
  logger: Logger;
}

/**
 * Probes the engine with its cheapest route (GET /healthz: no auth, no bcrypt, ~3 ms) so that an engine that died
 * while nobody called it is noticed within one interval, and so that an open circuit is closed by a probe, not by a
 * lucky call. The probe's outcome is recorded by the engine client (EngineCircuit).
 */
export class EngineMonitor {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private probe: Promise<void> | null = null;

  constructor(private readonly options: EngineMonitorOptions) {}

  start(): void {
    if (this.options.intervalMs <= 0) return;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One probe now (coalesced with one in flight); never rejects. */
  probeNow(): Promise<void> {
    this.probe ??= this.runProbe().finally(() => {
      this.probe = null;
    });
    return this.probe;
  }

  private async runProbe(): Promise<void> {
    const { circuit, engine } = this.options;
    if (!circuit.probeDue()) return;
    circuit.probing();
    // The engine client records the outcome (a proxy's 5xx for a dead engine counts as a failed probe).
    await engine.health({ probe: true, deadlineMs: 2_000 }).catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.probeNow().finally(() => {
        const { circuit, intervalMs, cooldownMs } = this.options;
        this.schedule(circuit.isOpen ? Math.min(intervalMs, cooldownMs) : intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }
}

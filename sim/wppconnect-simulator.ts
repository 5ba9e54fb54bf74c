import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { controlRoutes, createControl, type SimulatorControl } from './control-routes';
import type { SimulatorOptions } from './engine-config';
import { EngineModel } from './engine-model';
import { engineRoutes, noteCallFault, type RecordedCall } from './engine-routes';
import { FaultLayer } from './sim-faults';

export type { SimulatorControl } from './control-routes';
export type { BrowserView } from './engine-browsers';
export type { SimConfig, SimulatorOptions } from './engine-config';
export type { SessionView } from './engine-model';
export type { RecordedWebhook } from './engine-webhooks';
export type { RecordedCall } from './engine-routes';
export type { FailMode } from './launch-failures';
export type { FaultKind, FaultSpec, FaultView } from './sim-faults';
export { engineRouteName } from './sim-faults';
export type { InboundInput, InboundType } from './sim-messages';

/**
 * A WPPConnect Server 2.10.4 simulator: the engine's HTTP API with its real shapes, status codes and quirks
 * (/work/shared/spec/wppconnect-engine.md), plus a `/_sim` control surface that plays the phone and the browser.
 * Used by `npm run demo` and the end-to-end tests; production code never imports it.
 *
 * This file only wires the parts together (README "Layout"): the engine model (sim/engine-model.ts), the engine's
 * HTTP routes behind the fault layer (sim/engine-routes.ts, sim/sim-faults.ts) and the control
 * (sim/control-routes.ts). Each simulator has its own of each; nothing is shared between simulators.
 */
export function createSimulator(options: SimulatorOptions = {}): {
  app: Express;
  control: SimulatorControl;
  /**
   * Clears every timer, aborts webhooks in flight, drops held requests and SIGTERMs every browser process spawned
   * (for tests and close()).
   */
  dispose(): void;
} {
  const model = new EngineModel(options);
  const calls: RecordedCall[] = [];
  // Latency faults wait on the model's timers, so a disposed or restarted engine never runs them.
  const faults = new FaultLayer({ delay: (ms, fn) => model.schedule(null, ms, fn), noteFault: noteCallFault });
  const control = createControl(model, faults, calls);

  const app = express();
  app.disable('x-powered-by');
  // Both the engine routes and `/_sim` read bodies parsed like the server's (50 MB, JSON or form).
  app.use(express.json({ limit: '50mb' }));
  app.use(express.urlencoded({ limit: '50mb', extended: true }));
  app.use(engineRoutes(model, faults, calls));
  app.use(controlRoutes(control));

  return {
    app,
    control,
    dispose() {
      model.dispose();
      faults.drop();
    },
  };
}

export async function startSimulator(
  options: SimulatorOptions & { port?: number; host?: string } = {},
): Promise<{ url: string; control: SimulatorControl; close(): Promise<void> }> {
  const sim = createSimulator(options);
  const host = options.host ?? '127.0.0.1';
  const server: Server = sim.app.listen(options.port ?? 0, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    control: sim.control,
    close: async () => {
      const closed = new Promise<void>((resolve) => {
        sim.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // Process mode: wait (briefly) until every browser process has exited.
      const until = Date.now() + 3000;
      while (sim.control.browsers().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await closed;
    },
  };
}

import express, { type Request, type Response, type Router } from 'express';
import type { BrowserView } from './engine-browsers';
import type { SimConfig } from './engine-config';
import type { EngineModel, SessionView } from './engine-model';
import type { RecordedWebhook } from './engine-webhooks';
import type { RecordedCall } from './engine-routes';
import { type FailMode, isFailMode } from './launch-failures';
import type { FaultLayer, FaultSpec, FaultView } from './sim-faults';
import type { InboundInput } from './sim-messages';

/**
 * The simulator's control surface: `control.*` for code and `/_sim/*` (no auth) for HTTP. It plays the phone and the
 * browser, changes the engine's config, injects faults and shows what the engine received and sent. The effects
 * themselves live in the engine model (sim/engine-model.ts) and the fault layer (sim/sim-faults.ts).
 */

export interface SimulatorControl {
  /** The phone scans the QR: CONNECTED, webhooks status-find `qrReadSuccess` then `inChat`. */
  scan(session: string, phone?: string): Promise<void>;
  /** A message arrives: `onmessage` webhook; media is kept for get-media-by-message. */
  inbound(session: string, input?: InboundInput): Promise<{ id: string }>;
  /**
   * Chromium dies: `browserClose` webhook; a logged-in session stays CONNECTED (a zombie, spec §3.5). When the entry
   * has no running browser, the newest orphan browser of that session dies instead. In process mode the process is
   * SIGKILLed and the exit handler does the rest; the promise resolves once it has.
   */
  killBrowser(session: string): Promise<void>;
  /** The phone unlinks the device: `disconnectedMobile` (+ `browserClose`), the entry is dropped (CLOSED). */
  unlink(session: string): Promise<void>;
  /** Page alive, phone/WA socket offline (spec §3.5(3)): check-connection true, host-device 500, sends hang. */
  setPhoneOnline(session: string, online: boolean): void;
  /** The next start of that session (or of any session) fails the given way and stays INITIALIZING. */
  failNextStart(mode: FailMode, session?: string): void;
  /** A known LID ↔ phone mapping for contact/pn-lid. */
  mapLid(lid: string, phone: string): void;
  configure(patch: Partial<SimConfig>): SimConfig;
  calls(): RecordedCall[];
  clearCalls(): void;
  webhooks(): RecordedWebhook[];
  clearWebhooks(): void;
  /** Resolves once every webhook queued so far has been answered (or failed). */
  flushWebhooks(): Promise<void>;
  sessions(): SessionView[];
  /** Process mode: the live browser processes, attached or orphaned. Empty in virtual mode. */
  browsers(): BrowserView[];
  /** A valid engine token for the session (same as calling generate-token). */
  tokenFor(session: string): string;
  /**
   * Injects a fault on the engine API (sim/sim-faults.ts): requests selected by route name or path regex (and
   * optionally method, session and `times`) get `latency`, `hang`, `reset`, `status`, `html`, `truncate` or
   * `contentType`. The first matching spec applies. Throws on an invalid spec.
   */
  fault(spec: FaultSpec): FaultView;
  /** The active fault specs, with their hit counts. */
  faults(): FaultView[];
  /** Removes every fault (or the one with `id`); requests held by hang faults lose their connection. */
  clearFaults(id?: number): void;
  /**
   * The engine process restarted: every in-memory session is forgotten (status-session says CLOSED for all), its
   * browsers end without webhooks, held requests lose their connection, media is forgotten, uptime starts again. The
   * token store (show-all-sessions), SECRET_KEY and every token minted survive. Resolves once browser processes exit.
   */
  restartEngine(): Promise<void>;
  /**
   * SECRET_KEY changed: every token minted before is refused (401 "Check that the Session and Token are correct"),
   * generate-token and the secret routes with the old secret get their real 400. Sessions are kept (a real rotation
   * also restarts the engine: call restartEngine() too).
   */
  rotateSecret(newSecret: string): void;
}

/** `control.*` over the model, the fault layer and the engine's call log. */
export function createControl(model: EngineModel, faults: FaultLayer, calls: RecordedCall[]): SimulatorControl {
  return {
    // The phone's actions are async so that a refusal is a rejected promise, like the HTTP 409.
    async scan(name, phone) {
      model.scan(name, phone);
    },
    async inbound(name, input = {}) {
      return model.inbound(name, input);
    },
    killBrowser: (name) => model.killBrowser(name),
    async unlink(name) {
      model.unlink(name);
    },
    setPhoneOnline: (name, online) => model.setPhoneOnline(name, online),
    failNextStart: (mode, name) => model.failNextStart(mode, name),
    mapLid: (lid, phone) => model.mapLid(lid, phone),
    configure: (patch) => model.configure(patch),
    calls: () => calls.map((c) => ({ ...c })),
    clearCalls: () => {
      calls.length = 0;
    },
    webhooks: () => model.sentWebhooks(),
    clearWebhooks: () => model.clearWebhooks(),
    flushWebhooks: () => model.flushWebhooks(),
    sessions: () => model.sessions(),
    browsers: () => model.browserViews(),
    tokenFor: (name) => model.tokenFor(name),
    fault: (spec) => faults.add(spec),
    faults: () => faults.list(),
    clearFaults: (id) => faults.clear(id),
    async restartEngine() {
      const ending = model.restart();
      // Requests held or delayed by faults belonged to the old process too.
      faults.drop();
      await ending;
    },
    rotateSecret: (newSecret) => model.rotateSecret(newSecret),
  };
}

const bodyOf = (req: Request) => (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
const param = (req: Request) => String(req.params.session);

/**
 * `ctl(fn)`: the action's result as JSON (`{ok:true}` when it returns nothing); an action that does not fit the
 * current state throws, which is 409 `{ok:false,error}`.
 */
const ctl = (fn: (req: Request) => unknown) => async (req: Request, res: Response) => {
  try {
    res.json((await fn(req)) ?? { ok: true });
  } catch (error) {
    res.status(409).json({ ok: false, error: (error as Error).message });
  }
};

/** The `/_sim` HTTP routes: each one is a `control.*` call (README "Control surface"). */
export function controlRoutes(control: SimulatorControl): Router {
  const router = express.Router();

  router.post(
    '/_sim/sessions/:session/scan',
    ctl((req) => control.scan(param(req), bodyOf(req).phone as string | undefined)),
  );
  router.post(
    '/_sim/sessions/:session/inbound',
    ctl((req) => control.inbound(param(req), bodyOf(req) as InboundInput)),
  );
  router.post(
    '/_sim/sessions/:session/kill-browser',
    ctl((req) => control.killBrowser(param(req))),
  );
  router.post(
    '/_sim/sessions/:session/unlink',
    ctl((req) => control.unlink(param(req))),
  );
  router.post(
    '/_sim/sessions/:session/phone-offline',
    ctl((req) => control.setPhoneOnline(param(req), false)),
  );
  router.post(
    '/_sim/sessions/:session/phone-online',
    ctl((req) => control.setPhoneOnline(param(req), true)),
  );
  router.post('/_sim/fail-next-start', (req, res) => {
    const { mode = 'stuck', session } = bodyOf(req);
    if (!isFailMode(mode)) {
      res.status(400).json({ ok: false, error: `unknown mode ${String(mode)}` });
      return;
    }
    control.failNextStart(mode, typeof session === 'string' ? session : undefined);
    res.json({ ok: true });
  });
  router.post(
    '/_sim/lids',
    ctl((req) => control.mapLid(String(bodyOf(req).lid), String(bodyOf(req).phone))),
  );
  router.patch(
    '/_sim/config',
    ctl((req) => control.configure(bodyOf(req) as Partial<SimConfig>)),
  );
  router.get(
    '/_sim/calls',
    ctl(() => control.calls()),
  );
  router.delete(
    '/_sim/calls',
    ctl(() => control.clearCalls()),
  );
  router.get(
    '/_sim/webhooks',
    ctl(() => control.webhooks()),
  );
  router.delete(
    '/_sim/webhooks',
    ctl(() => control.clearWebhooks()),
  );
  router.get(
    '/_sim/sessions',
    ctl(() => control.sessions()),
  );
  router.get(
    '/_sim/browsers',
    ctl(() => control.browsers()),
  );
  router.post('/_sim/faults', (req, res) => {
    try {
      res.json({ ok: true, fault: control.fault(bodyOf(req) as FaultSpec) });
    } catch (error) {
      res.status(400).json({ ok: false, error: (error as Error).message });
    }
  });
  router.get(
    '/_sim/faults',
    ctl(() => control.faults()),
  );
  router.delete(
    '/_sim/faults',
    ctl(() => control.clearFaults()),
  );
  router.delete(
    '/_sim/faults/:id',
    ctl((req) => control.clearFaults(Number(req.params.id))),
  );
  router.post(
    '/_sim/restart-engine',
    ctl(() => control.restartEngine()),
  );
  router.post('/_sim/rotate-secret', (req, res) => {
    const secret = bodyOf(req).secret;
    if (typeof secret !== 'string' || !secret) {
      res.status(400).json({ ok: false, error: 'secret must be a non-empty string' });
      return;
    }
    control.rotateSecret(secret);
    res.json({ ok: true });
  });

  return router;
}

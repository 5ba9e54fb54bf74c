import type { EngineAdapter } from '../adapters/engine-adapter';
import type { EngineCallRecord } from '../adapters/engine-adapter';
import type { Config } from '../config';
import { isGatewayError, toErrorInfo } from '../errors';
import type { ChannelRecord } from '../store/channel-repository';
import { startFailureHint } from './browser-failure-diagnostics';
import type { DiagnosticsCapabilities, StartFailureDiagnostics } from './diagnostics';

export interface DiagnoseDeps {
  engine: EngineAdapter;
  diagnostics: StartFailureDiagnostics;
  config: Config;
  /** The engine the channel lives on (several engines: its own log file and profile directory, from config.engines). */
  engineId?: string;
}

/**
 * `GET /api/channels/:id/diagnose`: why there is no QR. The channel's state and last failure, what the engine says now,
 * the supervisor's view, the channel's recent engine calls, the same-host evidence (log lines, profile lock), and one
 * next action that never suggests a setting already set.
 */
export async function diagnoseChannel(
  deps: DiagnoseDeps,
  record: ChannelRecord,
  supervisor: Record<string, unknown>,
  recentEngineCalls: EngineCallRecord[],
): Promise<Record<string, unknown>> {
  const target = deps.engineId === undefined ? undefined : deps.config.engines.find((e) => e.id === deps.engineId);
  // The hints name this engine's log file and profile directory, not the first engine's.
  const config: Config = target
    ? { ...deps.config, engine: { ...deps.config.engine, logFile: target.logFile, userDataDir: target.userDataDir } }
    : deps.config;
  let engine: Record<string, unknown>;
  try {
    const state = await deps.engine.getStatus(record.id, { deadlineMs: 2_000 });
    engine = {
      ...(deps.engineId ? { id: deps.engineId } : {}),
      reachable: true,
      status: state.status,
      version: state.version ?? null,
      message: state.message ?? null,
    };
  } catch (error) {
    engine = {
      ...(deps.engineId ? { id: deps.engineId } : {}),
      reachable: false,
      error: isGatewayError(error) ? toErrorInfo(error) : String(error),
    };
  }
  const lastError = record.lastError;
  return {
    channel: record.id,
    state: record.status,
    since: new Date(record.statusSince).toISOString(),
    reason: lastError?.code ?? null,
    lastError,
    evidence: { engine, supervisor, recentEngineCalls, ...deps.diagnostics.evidence(record.id) },
    nextAction: nextAction(record.id, record.status, lastError?.code ?? null, deps.diagnostics.capabilities, config),
  };
}

/** What to do next, from the state and the reason; it never suggests a setting that is already set. */
export function nextAction(
  id: string,
  status: ChannelRecord['status'],
  code: string | null,
  caps: DiagnosticsCapabilities,
  config: Config,
): string {
  const restart = `POST /api/channels/${id}/restart`;
  switch (code) {
    case 'BROWSER_PROFILE_LOCKED':
    case 'BROWSER_ALREADY_RUNNING':
      return (
        startFailureHint(code, id, caps, config.engine.userDataDir) ??
        `Free the channel's browser profile on the engine host, then ${restart}.`
      );
    case 'BROWSER_LAUNCH_FAILED':
      return `Fix the browser on the engine host (CHROME_PATH is the browser WPPConnect starts; missing libraries; --no-sandbox when root), then ${restart}.`;
    case 'WA_WEB_UNREACHABLE':
      return `Restore the engine host's network access to web.whatsapp.com (network, DNS, proxy), then ${restart}.`;
    case 'ENGINE_START_STUCK':
      return caps.readsLog
        ? `Read this session's lines in the engine log (${config.engine.logFile}) and evidence.logLines; then ${restart}.`
        : `Set WPPCONNECT_LOG_FILE to the engine's captured stdout so the gateway can name the cause, then ${restart}.`;
    case 'ENGINE_PAGE_CLOSED':
      return 'The browser page died; the gateway restarts it automatically. If it repeats, check the engine host memory.';
    case 'QR_EXPIRED':
      return 'GET /api/channels/:id/qr to get a fresh QR code and scan it within a minute.';
    default:
      break;
  }
  switch (status) {
    case 'connected':
      return 'Nothing: the channel is connected.';
    case 'qr_required':
      return 'Scan the QR code from GET /api/channels/:id/qr with the phone.';
    case 'starting':
      return 'Wait: the engine is starting the session; GET /api/channels/:id/qr shows the QR when it is ready.';
    case 'failed':
      return 'POST /api/channels/:id/restart after fixing the reason above.';
    default:
      return 'GET /api/channels/:id/qr (or POST /api/channels/:id/start-session) to start the session.';
  }
}

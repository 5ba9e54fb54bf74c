import type { ErrorCode } from '../errors';

/**
 * What the supervisor needs to explain and repair a failed browser start. The real implementation reads the
 * engine log and the Chromium profile on the same host (browser-failure-diagnostics.ts); without either it can
 * only say ENGINE_START_STUCK.
 */
export interface StartFailureExplanation {
  code: ErrorCode;
  /** The text that matched, when there was evidence. */
  matched?: string;
  evidence: Record<string, unknown>;
}

export interface StartFailureDiagnostics {
  /** Classify why a start produced no QR and no CONNECTED; `engineTexts` are engine answers seen recently. */
  explain(session: string, engineTexts: string[]): StartFailureExplanation;
  /** Heal what can be healed before a restart (stale profile locks). Returns the actions taken. */
  heal(session: string): string[];
  /** Evidence for the diagnose route. */
  evidence(session: string): Record<string, unknown>;
}

export const noDiagnostics: StartFailureDiagnostics = {
  explain: () => ({ code: 'ENGINE_START_STUCK', evidence: {} }),
  heal: () => [],
  evidence: () => ({}),
};

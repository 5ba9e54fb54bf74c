import type { ErrorCode } from '../errors';

/**
 * Why a start produced no QR: the codes a Hub user must read instead of a spinner (GET /qr answers them non-2xx, and
 * the channel shows `retrying` while the gateway tries again). Not ENGINE_PAGE_CLOSED: a logged-in session whose page
 * died is restarted into CONNECTED without a QR, and a non-2xx there would make the Hub delete a working phone.
 */
export const START_FAILURE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BROWSER_PROFILE_LOCKED',
  'BROWSER_ALREADY_RUNNING',
  'BROWSER_LAUNCH_FAILED',
  'WA_WEB_UNREACHABLE',
  'ENGINE_START_STUCK',
]);

export function isStartFailure(code: ErrorCode | undefined | null): boolean {
  return code !== undefined && code !== null && START_FAILURE_CODES.has(code);
}

/**
 * What the supervisor needs to explain and repair a failed browser start. The real implementation reads the
 * engine log and the Chromium profile on the same host (browser-failure-diagnostics.ts); without either it can
 * only say ENGINE_START_STUCK, and it cannot end a browser the engine left behind.
 */
export interface StartFailureExplanation {
  code: ErrorCode;
  /** The text that matched, when there was evidence. */
  matched?: string;
  /** What the operator can do about this cause, given what this gateway can see and do (config-aware). */
  hint?: string;
  evidence: Record<string, unknown>;
}

/** What the gateway can see and do on the engine host, from its configuration. */
export interface DiagnosticsCapabilities {
  /** WPPCONNECT_LOG_FILE is set: launch failures can be named. */
  readsLog: boolean;
  /** WPPCONNECT_USER_DATA_DIR is set: profiles and the browsers on them can be inspected (same host). */
  seesProfiles: boolean;
  /** …and a browser left on a closed session's profile is ended (KILL_ORPHAN_BROWSERS, on by default). */
  endsBrowsers: boolean;
  /** …and stale Singleton* locks are removed (HEAL_PROFILE_LOCKS, on by default). */
  healsLocks: boolean;
}

export interface ProfileCheck {
  /** true: nothing holds the profile; false: something does (see `reason`); null: not checkable from here. */
  free: boolean | null;
  /** What was done to free it (ended browsers, removed locks), one sentence each. */
  actions: string[];
  reason: string;
  /** When not free: what the next launch would fail with. */
  code?: Extract<ErrorCode, 'BROWSER_ALREADY_RUNNING' | 'BROWSER_PROFILE_LOCKED'>;
}

export interface StartFailureDiagnostics {
  readonly capabilities: DiagnosticsCapabilities;
  /** A new start attempt begins: evidence from before it can no longer explain a failure (a healed cause stays healed). */
  beginAttempt(session: string): void;
  /**
   * Classify why the current attempt produced no QR and no CONNECTED. `engineTexts` are engine answers seen during
   * the attempt. `inspectProfile` also looks at the profile (a /proc scan: at the deadline, not on every poll).
   */
  explain(session: string, engineTexts: string[], options?: { inspectProfile?: boolean }): StartFailureExplanation;
  /**
   * After the engine closed the session: end a browser still holding its profile and remove stale locks (as far as
   * the configuration allows), then report whether the next launch will find the profile free.
   */
  releaseProfile(session: string): Promise<ProfileCheck>;
  /** Evidence for the diagnose route. */
  evidence(session: string): Record<string, unknown>;
}

export const noDiagnostics: StartFailureDiagnostics = {
  capabilities: { readsLog: false, seesProfiles: false, endsBrowsers: false, healsLocks: false },
  beginAttempt: () => undefined,
  explain: () => ({ code: 'ENGINE_START_STUCK', evidence: {} }),
  releaseProfile: async () => ({
    free: null,
    actions: [],
    reason: 'the engine host is not visible from the gateway (WPPCONNECT_USER_DATA_DIR unset)',
  }),
  evidence: () => ({}),
};

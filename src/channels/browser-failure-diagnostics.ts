import type { Config } from '../config';
import type { ErrorCode } from '../errors';
import type { Logger } from '../logger';
import { classifyBrowserFailure } from './browser-failure';
import type {
  DiagnosticsCapabilities,
  ProfileCheck,
  StartFailureDiagnostics,
  StartFailureExplanation,
} from './diagnostics';
import { EngineLogReader } from './engine-log-reader';
import { inspectProfileLock, ProcSnapshots, releaseProfile } from './profile-lock';

/**
 * Same-host evidence for a start that produced no QR: the engine's answers, the engine log (WPPCONNECT_LOG_FILE, the
 * engine's captured stdout) and the Chromium profile (WPPCONNECT_USER_DATA_DIR). WPPConnect reports none of these
 * failures over HTTP or webhooks (wppconnect-engine.md §3.2, §5.2, §7.3), so this is the only way to tell a Code 21
 * from a network failure. Evidence is scoped to the current start attempt: a cause healed before this attempt (an old
 * Code 21 line still in the log) never explains a later failure.
 */
export function createBrowserFailureDiagnostics(config: Config, logger: Logger): StartFailureDiagnostics {
  const userDataDir = config.engine.userDataDir;
  const reader = config.engine.logFile
    ? new EngineLogReader({ file: config.engine.logFile, logger, userDataDir })
    : null;
  const capabilities: DiagnosticsCapabilities = {
    readsLog: reader !== null,
    seesProfiles: userDataDir !== undefined,
    endsBrowsers: userDataDir !== undefined && config.engine.killOrphanBrowsers,
    healsLocks: userDataDir !== undefined && config.engine.healProfileLocks,
  };
  /** When each session's current start attempt began (the reader's clock). */
  const attempts = new Map<string, number>();

  const attemptLines = (session: string): string[] => {
    if (!reader) return [];
    try {
      reader.poll();
    } catch (error) {
      logger.warn('engine log could not be read', { file: config.engine.logFile, error: String(error) });
    }
    return reader.lines(session, { since: attempts.get(session), limit: 60 }).map((line) => line.text);
  };

  // Diagnoses of many channels at once (an engine restart) share one process-table scan per second.
  const snapshots = new ProcSnapshots();
  const lockInfo = (session: string) => {
    if (!userDataDir) return null;
    try {
      return inspectProfileLock({ userDataDir, session, snapshots });
    } catch (error) {
      logger.warn('profile lock could not be inspected', { session, error: String(error) });
      return null;
    }
  };

  const explained = (
    session: string,
    code: ErrorCode,
    evidence: Record<string, unknown>,
    matched?: string,
    ruleHint?: string,
  ): StartFailureExplanation => ({
    code,
    ...(matched ? { matched } : {}),
    hint: startFailureHint(code, session, capabilities, userDataDir, ruleHint),
    evidence,
  });

  return {
    capabilities,

    beginAttempt(session): void {
      attempts.set(session, reader ? reader.beginAttempt(session) : Date.now());
    },

    explain(session, engineTexts, options = {}): StartFailureExplanation {
      const lines = attemptLines(session);
      const lock = options.inspectProfile ? lockInfo(session) : null;
      const evidence = { logLines: lines.slice(-10), ...(lock ? { profileLock: lock } : {}) };
      const classified = classifyBrowserFailure([...engineTexts, ...lines]);
      if (classified) return explained(session, classified.code, evidence, classified.matched, classified.hint);
      // No text, but the profile itself shows what Chromium or puppeteer refuses.
      if (lock?.verdict === 'foreign-host' && lock.browserPids.length === 0) {
        return explained(session, 'BROWSER_PROFILE_LOCKED', evidence, `SingletonLock ${lock.lock?.target}`);
      }
      if (lock && lock.orphanPids.length > 0) {
        return explained(session, 'BROWSER_ALREADY_RUNNING', evidence, `orphaned browser pid ${lock.orphanPids[0]}`);
      }
      return explained(session, 'ENGINE_START_STUCK', evidence);
    },

    async releaseProfile(session): Promise<ProfileCheck> {
      if (!userDataDir) {
        return {
          free: null,
          actions: [],
          reason:
            'not checked: the engine host is not visible from the gateway (WPPCONNECT_USER_DATA_DIR unset), so a browser left on the profile can be neither seen nor ended',
        };
      }
      try {
        const result = await releaseProfile({
          userDataDir,
          session,
          endBrowsers: config.engine.killOrphanBrowsers,
          removeStaleLocks: config.engine.healProfileLocks,
          logger,
        });
        return {
          free: result.free,
          actions: result.actions,
          reason: result.reason,
          ...(result.free
            ? {}
            : { code: result.remainingPids.length > 0 ? 'BROWSER_ALREADY_RUNNING' : 'BROWSER_PROFILE_LOCKED' }),
        };
      } catch (error) {
        logger.warn('profile could not be released', { session, error: String(error) });
        return { free: null, actions: [], reason: `not checked: ${String(error)}` };
      }
    },

    evidence(session): Record<string, unknown> {
      return {
        logLines: attemptLines(session).slice(-20),
        logFile: config.engine.logFile ?? null,
        profileLock: lockInfo(session),
        userDataDir: userDataDir ?? null,
        capabilities,
      };
    },
  };
}

/**
 * The operator hint for a start failure, given what this gateway can see and do: it never suggests a setting that is
 * already set, and for a cause the gateway cannot repair from where it runs it names the one action that works.
 */
export function startFailureHint(
  code: ErrorCode,
  session: string,
  caps: DiagnosticsCapabilities,
  userDataDir: string | undefined,
  ruleHint?: string,
): string | undefined {
  const profile = `${userDataDir ? userDataDir.replace(/\/+$/, '') : 'userDataDir'}/${session}`;
  switch (code) {
    case 'BROWSER_ALREADY_RUNNING':
      if (caps.endsBrowsers)
        return `A browser from an earlier start still holds ${profile} (WPPConnect's close-session leaves the browser of a start that never logged in running). The gateway ends it before the next start; if it keeps coming back, check for another process starting this session.`;
      if (caps.seesProfiles)
        return `A browser from an earlier start still holds ${profile}. KILL_ORPHAN_BROWSERS=false keeps the gateway from ending it: remove that setting (the default is true), or end it yourself (pkill -f -- '--user-data-dir=${profile}'), then POST /api/channels/${session}/restart.`;
      return `A browser from an earlier start still holds ${profile} on the engine host, and this gateway cannot see that host, so restarting the channel cannot help. Restart the WPPConnect Server process (e.g. pm2 restart wppconnect-server: it ends its browsers), then POST /api/channels/${session}/restart. Running the gateway on the engine host with WPPCONNECT_USER_DATA_DIR set lets it do this itself.`;
    case 'BROWSER_PROFILE_LOCKED':
      if (caps.healsLocks)
        return `The SingletonLock in ${profile} names another host (a container recreated with a new hostname): Chrome exits with Code 21. The gateway removes the stale lock before the next start; give the engine container a fixed hostname so it does not come back (patches/container-hostname).`;
      if (caps.seesProfiles)
        return `The SingletonLock in ${profile} names another host: Chrome exits with Code 21. HEAL_PROFILE_LOCKS=false keeps the gateway from removing it: remove that setting, or delete ${profile}/Singleton{Lock,Cookie,Socket} yourself, then POST /api/channels/${session}/restart.`;
      return `The SingletonLock in ${profile} names another host: Chrome exits with Code 21. On the engine host delete ${profile}/Singleton{Lock,Cookie,Socket} (patches/profile-lock-sweeper does it before every engine start), then POST /api/channels/${session}/restart.`;
    case 'ENGINE_START_STUCK':
      return caps.readsLog
        ? 'The engine stayed INITIALIZING past ENGINE_START_DEADLINE_MS and its log (WPPCONNECT_LOG_FILE) shows no error for this start: WhatsApp Web may be slow to load or WA-JS outdated; see diagnose and the engine log.'
        : "The engine stayed INITIALIZING past ENGINE_START_DEADLINE_MS without an error over HTTP. Set WPPCONNECT_LOG_FILE to the engine's captured stdout (its pm2 log) so the gateway can name the cause.";
    default:
      return ruleHint;
  }
}

import type { Config } from '../config';
import type { Logger } from '../logger';
import { classifyBrowserFailure } from './browser-failure';
import type { StartFailureDiagnostics, StartFailureExplanation } from './diagnostics';
import { EngineLogReader } from './engine-log-reader';
import { healProfileLock, inspectProfileLock } from './profile-lock';

/**
 * Same-host evidence for a start that produced no QR: the engine's answers, the engine log
 * (WPPCONNECT_LOG_FILE) and the Chromium profile (WPPCONNECT_USER_DATA_DIR). WPPConnect reports none of
 * these failures over HTTP or webhooks (wppconnect-engine.md §3.2, §5.2), so this is the only way to tell a
 * Code 21 from a network failure.
 */
export function createBrowserFailureDiagnostics(config: Config, logger: Logger): StartFailureDiagnostics {
  const reader = config.engine.logFile ? new EngineLogReader({ file: config.engine.logFile, logger }) : null;
  const userDataDir = config.engine.userDataDir;

  const logLines = (session: string): string[] => {
    if (!reader) return [];
    try {
      reader.poll();
    } catch (error) {
      logger.warn('engine log could not be read', { file: config.engine.logFile, error: String(error) });
    }
    return reader.recentLines(session, 40);
  };

  const lockInfo = (session: string) => {
    if (!userDataDir) return null;
    try {
      return inspectProfileLock({ userDataDir, session });
    } catch (error) {
      logger.warn('profile lock could not be inspected', { session, error: String(error) });
      return null;
    }
  };

  return {
    explain(session, engineTexts): StartFailureExplanation {
      const lines = logLines(session);
      const lock = lockInfo(session);
      const evidence = { logLines: lines.slice(-10), profileLock: lock };
      const classified = classifyBrowserFailure([...engineTexts, ...lines]);
      if (classified) return { code: classified.code, matched: classified.matched, evidence };
      // No text, but the profile itself shows the lock Chrome exits 21 on.
      if (
        lock &&
        (lock.verdict === 'foreign-host' || (lock.verdict === 'live-same-host' && lock.orphanPids.length > 0))
      ) {
        return { code: 'BROWSER_PROFILE_LOCKED', matched: `SingletonLock ${lock.verdict}`, evidence };
      }
      return { code: 'ENGINE_START_STUCK', evidence };
    },

    heal(session): string[] {
      if (!userDataDir || !config.engine.healProfileLocks) return [];
      try {
        const result = healProfileLock({
          userDataDir,
          session,
          killOrphans: config.engine.killOrphanBrowsers,
          // heal() runs right after close-session: a browser the engine still parents is a leftover (§3.5).
          sessionClosedInEngine: true,
          logger,
        });
        return result.actions;
      } catch (error) {
        logger.warn('profile lock could not be healed', { session, error: String(error) });
        return [];
      }
    },

    evidence(session): Record<string, unknown> {
      return {
        logLines: logLines(session).slice(-20),
        logFile: config.engine.logFile ?? null,
        profileLock: lockInfo(session),
        userDataDir: userDataDir ?? null,
      };
    },
  };
}

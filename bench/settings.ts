/** Counts and durations of `npm run bench` (full) and `npm run bench -- --quick` (CI: same table, smaller numbers). */

export interface Settings {
  quick: boolean;
  /**
   * Seconds of autocannon load per measured run, and of warm-up before it. autocannon ends a run on its one-second
   * tick, so a run is never shorter than 1 s: `loadS / rounds` and `warmupS` below 1 only look shorter.
   */
  loadS: number;
  warmupS: number;
  /** Cases 1 and 2: parts each target's measured run is cut into, taken in turn (interleaved against drift). */
  rounds: number;
  /** Case 3: text sends one at a time (each path), after 30 untimed. */
  serialSends: number;
  /** Case 2c: engine calls per transport (after one untimed block each). */
  transportCalls: number;
  /** Case 9: 16 MB voice notes per path (after one untimed). */
  audioRuns: number;
  /** Case 4: events per run. */
  events: number;
  eventChannels: number;
  /** Cases 5–8, 10: channels waiting for a scan. */
  channels: number;
  /** Case 5: seconds after every channel shows its QR before the steady-state window, and the window. */
  settleS: number;
  windowS: number;
  /** Case 7: sequential `GET /api/channels` per channel count. */
  listRuns: number;
  /** Case 10: concurrent `GET /qr`. */
  qrBurst: number;
  /** Case 6: engine calls are counted over the first `restartS`; timeouts and zombies over the first `restartTailS`. */
  restartS: number;
  restartTailS: number;
  /** Issue 14, store cases: idempotent sends per store, and channels divided between two instances by leases. */
  storeOps: number;
  leaseChannels: number;
  /** Idempotent sends per store in the gateway-level store case (P6). */
  storeSends: number;
  /** O1: old events (one delivery each) the outbox's prune removes. */
  pruneEvents: number;
  /** P8/P9: the lease lifetime of the two instances (LEASE_TTL_MS); the kill -9 take-over waits for it to run out. */
  leaseTtlMs: number;
  /** The whole run is killed after this many seconds (a hung case must not hang CI). */
  watchdogS: number;
}

export function settings(quick: boolean): Settings {
  return quick
    ? {
        quick,
        loadS: 1,
        warmupS: 1,
        rounds: 1,
        serialSends: 60,
        transportCalls: 500,
        audioRuns: 2,
        events: 600,
        eventChannels: 20,
        channels: 100,
        settleS: 2,
        windowS: 4,
        listRuns: 20,
        qrBurst: 200,
        restartS: 3,
        restartTailS: 4,
        storeOps: 300,
        leaseChannels: 200,
        storeSends: 60,
        pruneEvents: 5_000,
        leaseTtlMs: 2_500,
        watchdogS: 300,
      }
    : {
        quick,
        loadS: 10,
        warmupS: 2,
        rounds: 3,
        serialSends: 300,
        transportCalls: 3000,
        audioRuns: 6,
        events: 5000,
        eventChannels: 20,
        channels: 1000,
        settleS: 20,
        // Two whole QR rotations (20 s each): every waiting channel posts exactly two QR webhooks in the window, whatever
        // the phase its creation gave it, so case 5's webhook rate and its baseline's (5b) are the same.
        windowS: 40,
        listRuns: 100,
        qrBurst: 1000,
        restartS: 5,
        restartTailS: 20,
        storeOps: 3000,
        leaseChannels: 1000,
        storeSends: 400,
        pruneEvents: 50_000,
        leaseTtlMs: 5_000,
        watchdogS: 1800,
      };
}

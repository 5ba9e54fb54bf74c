import type { ChannelStatus } from '../store/channel-repository';

/**
 * Every status a channel can be shown with, in the order lists and counts use. The store keeps five of them; the
 * other two are views: `retrying` (failed with an automatic restart scheduled) and `unknown` (the engine cannot be
 * reached, so nothing it said earlier is trusted). The API schema, /api/health's `byState` and the metrics gauge all
 * come from this one list, so a new status cannot reach one and not the others.
 */
export const CHANNEL_STATUSES = [
  'connected',
  'qr_required',
  'starting',
  'retrying',
  'unknown',
  'disconnected',
  'failed',
] as const satisfies readonly (ChannelStatus | 'retrying' | 'unknown')[];

export type ChannelViewStatus = (typeof CHANNEL_STATUSES)[number];

/** A zero count for every status (a gauge or `byState` shows every status, not only the ones present). */
export function countByStatus(statuses: Iterable<ChannelViewStatus>): Record<ChannelViewStatus, number> {
  const counts = Object.fromEntries(CHANNEL_STATUSES.map((s) => [s, 0])) as Record<ChannelViewStatus, number>;
  for (const s of statuses) counts[s] += 1;
  return counts;
}

import { Router } from 'express';
import type { CallOptions, EngineAdapter } from '../adapters/engine-adapter';
import { GatewayError } from '../errors';
import type { ChannelGate } from '../messages/channel-gate';
import { isOgg, sniffMime } from '../messages/media-sniff';

export interface MediaRouterDeps {
  engine: EngineAdapter;
  channels: Pick<ChannelGate, 'resolve'>;
  /** Budget for a media download (the Hub waits 120 s, hub-contract.md §1.3). @default 60000 */
  mediaDeadlineMs?: number;
  /** Budget for a pn-lid lookup (the Hub waits 10 s). @default 8000 */
  contactDeadlineMs?: number;
}

const DATA_URI_PREFIX = /^data:[^,]{0,200},/;
/** Longest message id or pn/lid we pass on (WhatsApp ids are well under 200 characters). */
const MAX_ENGINE_SEGMENT = 512;

/**
 * A caller's value that the adapter puts into the engine URL as one path segment. `.` and `..` (also sent as `%2e`)
 * are refused: URL normalization would drop them and call another engine route (`/api/<s>/get-media-by-message/..`
 * becomes `/api/<s>/`); so are control characters (NUL) and megabyte ids.
 */
function engineSegment(value: string, name: string): string {
  const control = [...value].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f');
  if (!value || value.length > MAX_ENGINE_SEGMENT || value === '.' || value === '..' || control) {
    throw new GatewayError('VALIDATION_FAILED', { message: `${name}: not a valid WhatsApp id` });
  }
  return value;
}

function callOptions(res: { locals: Record<string, unknown> }, ms: number): CallOptions {
  (res.locals.rearmDeadline as ((ms: number) => void) | undefined)?.(ms + 1_000);
  return { signal: res.locals.signal as AbortSignal | undefined, deadlineMs: ms };
}

/**
 * GET /media/:channel/:messageId (hub-contract.md §2.9) and GET /:session/contact/pn-lid/:pnLid (§2.11). Reads only:
 * neither needs the channel to be believed connected; the engine says when its session is not active.
 */
export function createMediaRouter(deps: MediaRouterDeps): Router {
  const router = Router();
  const mediaMs = deps.mediaDeadlineMs ?? 60_000;
  const contactMs = deps.contactDeadlineMs ?? 8_000;

  router.get('/media/:channel/:messageId', async (req, res) => {
    const channel = deps.channels.resolve(String(req.params.channel));
    const messageId = engineSegment(String(req.params.messageId), 'messageId');
    const media = await deps.engine.getMedia(channel, messageId, callOptions(res, mediaMs));
    // The file itself, base64, never the engine's JSON wrapped again (the old wrapper's bug, §2.9).
    const prefix = DATA_URI_PREFIX.exec(media.base64.slice(0, 256));
    const base64 = prefix ? media.base64.slice(prefix[0].length) : media.base64;
    const head = Buffer.from(base64.slice(0, 64), 'base64');
    const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
    // The Hub saves by an exact, bare MIME lookup and forces audio/ogg for OggS bytes itself; agree with it.
    let mimeType = media.mimeType;
    if (isOgg(head)) mimeType = 'audio/ogg';
    else if (mimeType === 'application/octet-stream') mimeType = sniffMime(head, media.fileName) ?? mimeType;
    res.json({
      success: true,
      media_base64: base64,
      mime_type: mimeType,
      filename: media.fileName,
      size: Math.floor((base64.length * 3) / 4) - padding,
    });
  });

  router.get('/:session/contact/pn-lid/:pnLid', async (req, res) => {
    const channel = deps.channels.resolve(String(req.params.session));
    const pnLid = engineSegment(String(req.params.pnLid), 'pnLid');
    const contact = await deps.engine.lookupContact(channel, pnLid, callOptions(res, contactMs));
    if (!contact) throw new GatewayError('CONTACT_NOT_FOUND');
    const asked = pnLid.replace(/\D/g, '');
    // The Hub reads `phone` or `number` (§2.11); `lid` is the engine's, or what was asked when it was a lid.
    const lid = contact.lid ?? (/@lid$/i.test(pnLid) || asked.length > 14 ? `${asked}@lid` : null);
    res.json({ success: true, phone: contact.phone, number: contact.phone, lid });
  });

  return router;
}

import type { CallOptions, EngineAdapter } from '../adapters/engine-adapter';
import { GatewayError } from '../errors';
import { isOgg, sniffMime } from './media-sniff';

/**
 * The read side of messaging (hub-contract.md §2.9, §2.11): a message's media as the Hub saves it, and the phone
 * behind an @lid. Reads only: neither needs the channel to be believed connected; the engine says when its session is
 * not active.
 */

export interface MessageMedia {
  /** The file itself, bare base64 (never the engine's JSON wrapped again, the old wrapper's bug, §2.9). */
  base64: string;
  /** Bare MIME type; OGG bytes are always `audio/ogg`. */
  mimeType: string;
  fileName: string | null;
  /** Decoded size in bytes. */
  size: number;
}

export interface ContactPhone {
  phone: string;
  /** `<digits>@lid`: the engine's, or what was asked when it was a lid; null when neither. */
  lid: string | null;
}

const DATA_URI_PREFIX = /^data:[^,]{0,200},/;

/** The media of `messageId` on `channel` (a canonical id). */
export async function downloadMessageMedia(
  engine: Pick<EngineAdapter, 'getMedia'>,
  channel: string,
  messageId: string,
  options: CallOptions,
): Promise<MessageMedia> {
  const media = await engine.getMedia(channel, messageId, options);
  const prefix = DATA_URI_PREFIX.exec(media.base64.slice(0, 256));
  const base64 = prefix ? media.base64.slice(prefix[0].length) : media.base64;
  const head = Buffer.from(base64.slice(0, 64), 'base64');
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  // The Hub saves by an exact, bare MIME lookup and forces audio/ogg for OggS bytes itself; agree with it.
  let mimeType = media.mimeType;
  if (isOgg(head)) mimeType = 'audio/ogg';
  else if (mimeType === 'application/octet-stream') mimeType = sniffMime(head, media.fileName) ?? mimeType;
  return { base64, mimeType, fileName: media.fileName, size: Math.floor((base64.length * 3) / 4) - padding };
}

/** The phone behind `pnLid` (an @lid, its digits, or a phone) on `channel`; CONTACT_NOT_FOUND when the engine has none. */
export async function lookupContactPhone(
  engine: Pick<EngineAdapter, 'lookupContact'>,
  channel: string,
  pnLid: string,
  options: CallOptions,
): Promise<ContactPhone> {
  const contact = await engine.lookupContact(channel, pnLid, options);
  if (!contact) throw new GatewayError('CONTACT_NOT_FOUND');
  const asked = pnLid.replace(/\D/g, '');
  const lid = contact.lid ?? (/@lid$/i.test(pnLid) || asked.length > 14 ? `${asked}@lid` : null);
  return { phone: contact.phone, lid };
}

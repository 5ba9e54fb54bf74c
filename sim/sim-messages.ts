import crypto from 'node:crypto';

/**
 * WhatsApp ids and message objects as WPPConnect hands them out (wppconnect-engine.md §2.1, §2.3, §4). Only the
 * fields a consumer plausibly reads are modelled; the real objects carry dozens more.
 */

export type InboundType = 'chat' | 'image' | 'ptt' | 'document' | 'video';

export interface InboundInput {
  /** Digits, or a full id (`…@c.us`, `…@lid`, `…@g.us`). @default '5511988887777' */
  from?: string;
  body?: string;
  type?: InboundType;
  caption?: string;
  mimetype?: string;
  /** Raw base64 (no data: prefix) of the media. A small placeholder is used when a media type has none. */
  media_base64?: string;
  isGroup?: boolean;
  /** The group member who wrote it (groups only). @default '5511977776666@c.us' */
  author?: string;
  notifyName?: string;
}

/** What get-media-by-message / download-media can find: every message the simulated page has seen. */
export interface StoredMessage {
  id: string;
  type: string;
  mimetype?: string;
  base64?: string;
}

const DEFAULT_MIME: Record<InboundType, string | undefined> = {
  chat: undefined,
  image: 'image/jpeg',
  ptt: 'audio/ogg; codecs=opus',
  document: 'application/pdf',
  video: 'video/mp4',
};

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** `3EB0` + 16 upper-case hex digits: the shape of ids minted by WhatsApp Web. */
export function newKeyId(): string {
  return `3EB0${crypto.randomBytes(8).toString('hex').toUpperCase()}`;
}

export function serializedMessageId(fromMe: boolean, remote: string, keyId: string): string {
  return `${fromMe}_${remote}_${keyId}`;
}

export interface PhoneFlags {
  isGroup?: unknown;
  isNewsletter?: unknown;
  isLid?: unknown;
}

/**
 * The server's `contactToArray` (wppconnect-engine.md §2.1): `phone` is a string split on `,`/`;` or an array;
 * whatever follows `@` is dropped, non-word characters are stripped (not for groups/newsletters), then the
 * suffix comes from the flags, with more than 14 digits meaning `@lid`.
 */
export function contactToArray(phone: unknown, flags: PhoneFlags): string[] {
  const list = Array.isArray(phone) ? phone.map(String) : String(phone ?? '').split(/\s*[,;]\s*/g);
  const out: string[] = [];
  for (const entry of list) {
    const head = entry.split('@')[0] ?? '';
    const contact = flags.isGroup || flags.isNewsletter ? head : head.replace(/[^\w ]/g, '');
    if (contact === '') continue;
    if (flags.isGroup) out.push(`${contact}@g.us`);
    else if (flags.isNewsletter) out.push(`${contact}@newsletter`);
    else if (flags.isLid || contact.length > 14) out.push(`${contact}@lid`);
    else out.push(`${contact}@c.us`);
  }
  return out;
}

function contact(id: string, name: string | undefined, isMe: boolean): Record<string, unknown> {
  return {
    id,
    name,
    shortName: name?.split(' ')[0],
    pushname: name,
    type: 'in',
    isBusiness: false,
    isEnterprise: false,
    labels: [],
    formattedName: name ?? `+${id.split('@')[0]}`,
    isMe,
    isMyContact: !isMe && name !== undefined,
    isPSA: false,
    isUser: id.endsWith('@c.us') || id.endsWith('@lid'),
    isWAContact: true,
    profilePicThumbObj: null,
    msgs: null,
  };
}

/** The message object send-message returns (read back after the ack, so `ack` is 1). */
export function sentTextMessage(me: string, to: string, body: string): Record<string, unknown> {
  const t = nowSeconds();
  const id = serializedMessageId(true, to, newKeyId());
  return {
    id,
    viewed: false,
    body,
    type: 'chat',
    t,
    notifyName: '',
    from: me,
    to,
    self: 'out',
    ack: 1,
    invis: false,
    isNewMsg: true,
    star: false,
    recvFresh: true,
    isForwarded: false,
    hasReaction: false,
    mentionedJidList: [],
    groupMentions: [],
    chatId: to,
    fromMe: true,
    sender: contact(me, undefined, true),
    timestamp: t,
    content: body,
    isGroupMsg: to.endsWith('@g.us'),
    isMedia: false,
    isNotification: false,
    isPSA: false,
    mediaData: {},
  };
}

/** An incoming message as the `onmessage` webhook carries it (the library's Message, §4). */
export function inboundMessage(
  me: string,
  input: InboundInput,
): { message: Record<string, unknown>; stored: StoredMessage } {
  const type = input.type ?? 'chat';
  const isGroup = input.isGroup === true;
  const digitsOrId = input.from ?? '5511988887777';
  const from = digitsOrId.includes('@')
    ? digitsOrId
    : `${digitsOrId.replace(/[^\w-]/g, '')}@${isGroup ? 'g.us' : 'c.us'}`;
  const author = isGroup ? (input.author ?? '5511977776666@c.us') : undefined;
  // Group message ids carry the participant as a fourth part.
  const id = serializedMessageId(false, from, newKeyId()) + (author ? `_${author}` : '');
  const t = nowSeconds();
  const isMedia = type !== 'chat';
  const mimetype = isMedia ? (input.mimetype ?? DEFAULT_MIME[type]) : undefined;
  // A few bytes stand in for media when the caller gave none, so get-media-by-message still has something.
  const base64 = isMedia ? (input.media_base64 ?? Buffer.from(`simulated ${type}`).toString('base64')) : undefined;
  const notifyName = input.notifyName ?? 'Simulated Contact';
  // With the server's default webhook.autoDownload, a media message's body is replaced by its full base64 (§4).
  const body = isMedia ? base64 : (input.body ?? '');
  const message: Record<string, unknown> = {
    id,
    viewed: false,
    body,
    type,
    t,
    notifyName,
    from,
    to: me,
    author,
    self: 'in',
    ack: 1,
    invis: false,
    isNewMsg: true,
    star: false,
    recvFresh: true,
    isForwarded: false,
    hasReaction: false,
    mentionedJidList: [],
    groupMentions: [],
    chatId: from,
    fromMe: false,
    sender: contact(author ?? from, notifyName, false),
    timestamp: t,
    content: body,
    isGroupMsg: isGroup,
    isMedia,
    isNotification: false,
    isPSA: false,
    mediaData: {},
  };
  if (isMedia) {
    message.mimetype = mimetype;
    message.caption = input.caption;
    if (type === 'ptt') message.duration = '3';
    if (type === 'document') message.filename = 'document.pdf';
  }
  return { message, stored: { id, type, mimetype, base64 } };
}

/** The `onack` payload: unlike messages, its `id` is an object (§4, `L:src/api/model/ack.ts`). */
export function ackEvent(messageId: string, ack: number, me: string, extra: Record<string, unknown> = {}) {
  const [fromMe, remote, keyId] = messageId.split('_');
  return {
    id: { fromMe: fromMe === 'true', remote, id: keyId, _serialized: messageId },
    ack,
    from: me,
    to: remote,
    self: 'out',
    isNewMsg: true,
    t: nowSeconds(),
    ...extra,
  };
}

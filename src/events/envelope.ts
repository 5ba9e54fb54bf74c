import crypto from 'node:crypto';
import type { EngineEvent } from '../adapters/engine-adapter';

/**
 * Engine events → the Hub's webhook envelope (hub-contract.md §4.3), as the old wrapper sent it, so the Hub's
 * parser needs no change. Pure functions.
 */

export const DEFAULT_EVENTS = ['message', 'message.ack'] as const;
export const OPT_IN_EVENTS = ['qr.update', 'session.status', 'channel.degraded', 'channel.recovered'] as const;
export const KNOWN_EVENTS: readonly string[] = [...DEFAULT_EVENTS, ...OPT_IN_EVENTS];

const MEDIA_TYPES = new Set(['image', 'video', 'ptt', 'audio', 'document', 'sticker']);
/** With webhook.autoDownload the engine replaces `body` with the whole media in base64 (wppconnect-engine.md §4). */
const LARGE_BODY = 1024;

export interface EnvelopeContext {
  channelId: string;
  now: number;
  eventId?: string;
  correlationId?: string;
}

export interface Envelope {
  type: string;
  body: Record<string, unknown>;
}

function serialized(id: unknown): string | null {
  if (typeof id === 'string' && id) return id;
  if (id && typeof id === 'object' && typeof (id as { _serialized?: unknown })._serialized === 'string') {
    return (id as { _serialized: string })._serialized;
  }
  return null;
}

/** A finite number, or a numeric string read as one; never stringifies an object (a bad toString would throw). */
function finite(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value ? value : undefined;
}

const ACK_STATUS: Record<string, string> = {
  '-1': 'failed',
  '0': 'pending',
  '1': 'sent',
  '2': 'delivered',
  '3': 'read',
  '4': 'played',
};

function base(type: string, ctx: EnvelopeContext): Record<string, unknown> {
  return {
    spec_version: '1.0',
    event: type,
    session: { id: ctx.channelId, name: ctx.channelId },
    channel: ctx.channelId,
  };
}

function trailer(ctx: EnvelopeContext, timestamp: unknown = Math.floor(ctx.now / 1000)): Record<string, unknown> {
  return {
    event_id: ctx.eventId ?? crypto.randomUUID(),
    correlation_id: ctx.correlationId ?? crypto.randomUUID(),
    timestamp,
  };
}

/** The engine payload as the Hub stores it in raw.payload, minus megabytes of base64 media in `body`. */
function rawPayload(payload: Record<string, unknown>, isMedia: boolean): Record<string, unknown> {
  if (isMedia && typeof payload.body === 'string' && payload.body.length > LARGE_BODY) {
    // The Hub fetches media by id (GET /api/media/...); shipping it twice would make every delivery huge.
    return { ...payload, body: '', bodyOmitted: true };
  }
  return payload;
}

export function toHubEnvelope(event: EngineEvent, ctx: EnvelopeContext): Envelope | null {
  if (event.kind === 'message') {
    const p = event.payload;
    const fromMe = event.fromMe || p.fromMe === true;
    const type = str(p.type) ?? 'chat';
    const isMedia = MEDIA_TYPES.has(type) || p.isMedia === true;
    const id = serialized(p.id);
    const from = str(p.from) ?? str((p.sender as { id?: unknown } | undefined)?.id) ?? null;
    // For a message sent from the phone, `to` is the contact (hub-contract.md §4.5 "To (outbound/fromMe)").
    const to = str(p.to) ?? str(p.chatId) ?? null;
    const caption = str(p.caption);
    const text = isMedia ? (caption ?? '') : (str(p.body) ?? str(p.content) ?? '');
    const timestamp = finite(p.t) ?? finite(p.timestamp) ?? Math.floor(ctx.now / 1000);
    const author = str(p.author) ?? (p.isGroupMsg ? str((p.sender as { id?: unknown } | undefined)?.id) : undefined);
    const message: Record<string, unknown> = {
      id,
      from,
      to,
      text,
      timestamp,
      fromMe,
      type,
      ...(author ? { author } : {}),
      ...(str(p.notifyName) ? { notifyName: p.notifyName } : {}),
      ...(isMedia
        ? { hasMedia: true, ...(str(p.mimetype) ? { mimetype: p.mimetype } : {}), ...(caption ? { caption } : {}) }
        : {}),
    };
    const payload = rawPayload({ ...p, ...(event.fromMe ? { fromMe: true } : {}) }, isMedia);
    return {
      type: 'message',
      body: {
        ...base('message', ctx),
        message,
        ack: null,
        connection: null,
        raw: { provider: 'wppconnect', payload },
        ...trailer(ctx, timestamp),
      },
    };
  }
  if (event.kind === 'ack') {
    const p = event.payload;
    // A finite number (or a numeric string) only: anything else is not an ack level the Hub can read.
    const ack = finite(p.ack) ?? 0;
    const id = serialized(p.id);
    return {
      type: 'message.ack',
      body: {
        ...base('message.ack', ctx),
        message: { id, from: str(p.from) ?? null, to: str(p.to) ?? null },
        ack: { id, ack, status: ACK_STATUS[String(ack)] ?? 'unknown' },
        connection: null,
        raw: { provider: 'wppconnect', payload: p },
        ...trailer(ctx),
      },
    };
  }
  // Presence (thousands a day, about contacts, not the session) and the rest are not relayed (hub-contract §4.4).
  return null;
}

/** Gateway-originated events: qr.update, session.status, channel.degraded, channel.recovered. */
export function gatewayEnvelope(type: string, data: Record<string, unknown>, ctx: EnvelopeContext): Envelope {
  return { type, body: { ...base(type, ctx), data, ...trailer(ctx) } };
}

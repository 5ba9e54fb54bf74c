import nock from 'nock';
import QRCode from 'qrcode';
import { recorded } from '../contract/recorded-shapes';
import { ENGINE_SECRET, ENGINE_URL } from './test-gateway';

/**
 * Real WPPConnect Server 2.10.4 response shapes for nock, built from the bodies recorded on the real engine
 * (test/contract/recorded-shapes.ts, which the engine contract suite checks against the engine itself).
 * Replies include the extra `session` key the engine adds when the request says Content-Type: application/json.
 */
export const URLCODE = recorded.statusQrcode.urlcode;

export async function qrPng(urlcode = URLCODE): Promise<Buffer> {
  return QRCode.toBuffer(urlcode, { width: 200 });
}

export async function qrDataUrl(urlcode = URLCODE): Promise<string> {
  // status-session re-renders the urlcode at the engine's own size (500 px), unlike the webhook's image.
  return `data:image/png;base64,${(await QRCode.toBuffer(urlcode, { width: 500 })).toString('base64')}`;
}

export function engine(): nock.Scope {
  return nock(ENGINE_URL);
}

/** generate-token: 201, a new bcrypt-looking token per call. */
export function mockToken(
  session: string,
  token = `$2b$10$${session}tokenXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX`,
  times = 1,
): nock.Scope {
  return engine()
    .post(`/api/${encodeURIComponent(session)}/${ENGINE_SECRET}/generate-token`)
    .times(times)
    .reply(201, { ...recorded.generateToken, session, token, full: `${session}:${token}` });
}

/** Deep copies, so a test that tweaks a reply cannot change the recorded shapes for the next one. */
const copy = <T>(value: T): T => structuredClone(value);

export const shapes = {
  /** The first start-session answer (Content-Type: application/json). */
  startFirst: copy(recorded.startFirstJson),
  /** status-session / a repeated start-session while starting, for session `s`. */
  initializing: { ...copy(recorded.startAgainJson), session: 's' },
  closed: copy(recorded.statusClosedJson),
  notStarted: copy(recorded.qrNotStarted),
  qrNotAvailable: copy(recorded.qrNotAvailable),
  closeError: copy(recorded.closeError),
  closeOk: copy(recorded.closeOk),
  notActive: copy(recorded.notActiveJson),
  wrongSecret: copy(recorded.wrongSecret),
  badToken: copy(recorded.badToken),
  checkConnected: copy(recorded.checkConnected),
  checkDisconnected: copy(recorded.checkDisconnected),
};

export async function statusWithQr(status: string, urlcode = URLCODE): Promise<Record<string, unknown>> {
  return { status, qrcode: await qrDataUrl(urlcode), urlcode, version: recorded.engineVersion, session: 's' };
}

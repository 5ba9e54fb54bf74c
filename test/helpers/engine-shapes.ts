import nock from 'nock';
import QRCode from 'qrcode';
import { ENGINE_SECRET, ENGINE_URL } from './test-gateway';

/**
 * Real WPPConnect Server 2.10.4 response shapes (wppconnect-engine.md §1, §2, §7.2), for nock.
 * Replies include the extra `session` key the engine adds when the request says Content-Type: application/json.
 */
export const URLCODE = '2@Zx8LqW1vYbJ3kq9N,4bYd0vQe8H2mYQ==,Qm9vbGVhbg==,AAAA';

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
    .reply(201, { status: 'success', session, token, full: `${session}:${token}` });
}

export const shapes = {
  startFirst: { status: 'CLOSED', qrcode: null, session: '' },
  initializing: { status: 'INITIALIZING', qrcode: null, version: '2.10.4', session: 's' },
  closed: { status: 'CLOSED', qrcode: null, session: '' },
  notStarted: {
    status: null,
    message: 'Session not started. Please, use the /start-session route, for initialization your session',
  },
  qrNotAvailable: { status: 'INITIALIZING', message: 'QRCode is not available...' },
  closeError: { status: false, message: 'Error closing session', error: { level: 'error' } },
  closeOk: { status: true, message: 'Session successfully closed' },
  notActive: { response: null, status: 'Disconnected', message: 'A sessão do WhatsApp não está ativa.', session: '' },
  wrongSecret: { response: false, message: 'The SECRET_KEY is incorrect' },
  badToken: { error: 'Check that the Session and Token are correct' },
  checkConnected: { status: true, message: 'Connected' },
  checkDisconnected: { status: false, message: 'Disconnected' },
};

export async function statusWithQr(status: string, urlcode = URLCODE): Promise<Record<string, unknown>> {
  return { status, qrcode: await qrDataUrl(urlcode), urlcode, version: '2.10.4', session: 's' };
}

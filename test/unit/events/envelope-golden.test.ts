import fs from 'node:fs';
import path from 'node:path';
import { createWppconnectAdapter } from '../../../src/adapters/wppconnect/wppconnect-adapter';
import { toHubEnvelope } from '../../../src/events/envelope';
import { createSilentLogger } from '../../../src/logger';

const FIXTURES = path.join(__dirname, '../../fixtures');
const adapter = createWppconnectAdapter({
  baseUrl: 'http://engine.test',
  secretKey: 'S',
  requestTimeoutMs: 1000,
  tokens: { get: () => undefined, set: () => undefined, delete: () => undefined },
  logger: createSilentLogger(),
});

async function envelopeFor(name: string) {
  const payload = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', 'engine', `${name}.json`), 'utf8'));
  const event = await adapter.parseEvent(payload);
  return toHubEnvelope(event, {
    channelId: 'pixel12digital',
    now: 1768520000000,
    eventId: 'evt-1',
    correlationId: 'cor-1',
  });
}

function golden(name: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', 'hub', `${name}.json`), 'utf8'));
}

describe('Hub envelope (hub-contract.md §4.3)', () => {
  test.each(['text', 'image-caption', 'ptt', 'document', 'group', 'self-message', 'ack'])(
    'When the engine posts a %s event, then the Hub receives the golden envelope',
    async (name) => {
      const envelope = await envelopeFor(name);
      expect(envelope).not.toBeNull();
      expect(envelope!.body).toEqual(golden(name));
    },
  );

  test('When any message envelope is built, then it has no top-level id and the session is an object', async () => {
    for (const name of ['text', 'image-caption', 'group', 'self-message']) {
      const body = (await envelopeFor(name))!.body as Record<string, any>;
      expect(body).not.toHaveProperty('id');
      expect(body).not.toHaveProperty('messageId');
      expect(body.session).toEqual({ id: 'pixel12digital', name: 'pixel12digital' });
      expect(body.message).not.toHaveProperty('mediaUrl');
    }
  });

  test('When media arrives with autoDownload base64 in body, then message.text is the caption and never base64', async () => {
    const image = (await envelopeFor('image-caption'))!.body as Record<string, any>;
    expect(image.message.text).toBe('Segue a foto do imóvel');
    const ptt = (await envelopeFor('ptt'))!.body as Record<string, any>;
    expect(ptt.message.text).toBe('');
    expect(ptt.raw.payload.type).toBe('ptt');
    expect(ptt.raw.payload.id).toBe('false_5511988887777@c.us_3EB0AUD10000000000000001');
    expect(JSON.stringify(ptt)).not.toContain('T2dnUw');
  });

  test('When a presence event arrives, then nothing is relayed by default', async () => {
    const event = await adapter.parseEvent({
      event: 'onpresencechanged',
      id: '5511@c.us',
      state: 'available',
      isOnline: true,
    });
    expect(toHubEnvelope(event, { channelId: 'x', now: 0 })).toBeNull();
  });
});

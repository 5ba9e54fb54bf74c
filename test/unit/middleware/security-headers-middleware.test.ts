import express, { type RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import request from 'supertest';
import { securityHeadersMiddleware } from '../../../src/middleware/security-headers-middleware';

// helmet as it is, with a count of the requests its middlewares are run for.
const helmetRuns = { count: 0 };
jest.mock('helmet', () => {
  const actual = jest.requireActual<typeof import('helmet')>('helmet');
  return {
    __esModule: true,
    default: (options?: HelmetOptions): RequestHandler => {
      const middleware = actual.default(options);
      return (req, res, next) => {
        helmetRuns.count++;
        middleware(req, res, next);
      };
    },
  };
});

/** The headers of one answer from an app with `headers` in front, without the ones that change per response. */
async function headersFrom(headers: RequestHandler, nonce?: () => string): Promise<Array<[string, string]>> {
  const app = express();
  if (nonce) app.use((_req, res, next) => ((res.locals.nonce = nonce()), next()));
  app.use(headers);
  app.get('/x', (_req, res) => void res.json({ ok: true }));
  const answer = await request(app).get('/x').expect(200);
  const raw = (answer as unknown as { res: { rawHeaders: string[] } }).res.rawHeaders;
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) if (!/^(date|etag)$/i.test(raw[i])) pairs.push([raw[i], raw[i + 1]]);
  return pairs;
}

describe("helmet's headers, recorded once", () => {
  test.each<[string, HelmetOptions]>([
    ["the gateway's options", { contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }],
    ["helmet's defaults", {}],
    [
      'HSTS preload and a stricter referrer policy',
      { strictTransportSecurity: { preload: true }, referrerPolicy: { policy: 'no-referrer' } },
    ],
  ])(
    'When helmet runs with %s, then an answer gets exactly the headers helmet gives it, in its order',
    async (_name, options) => {
      const expected = await headersFrom(helmet(options));

      expect(await headersFrom(securityHeadersMiddleware(options))).toEqual(expected);
      expect(expected.map(([name]) => name.toLowerCase())).toEqual(
        expect.arrayContaining(['x-content-type-options', 'strict-transport-security', 'x-frame-options']),
      );
    },
  );

  test('When the headers do not depend on the request, then helmet runs only to record them, never for an answer', async () => {
    const middleware = securityHeadersMiddleware({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false });
    const recorded = helmetRuns.count;

    await headersFrom(middleware);
    await headersFrom(middleware);

    expect(helmetRuns.count).toBe(recorded);
  });

  test('When a header depends on the request (a CSP nonce), then helmet itself runs for every answer', async () => {
    let n = 0;
    const nonce = () => `n${++n}`;
    const options: HelmetOptions = {
      contentSecurityPolicy: {
        directives: { scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as express.Response).locals.nonce}'`] },
      },
    };
    const middleware = securityHeadersMiddleware(options);

    const first = Object.fromEntries(await headersFrom(middleware, nonce));
    const second = Object.fromEntries(await headersFrom(middleware, nonce));

    expect(first['Content-Security-Policy']).toContain("'nonce-n1'");
    expect(second['Content-Security-Policy']).toContain("'nonce-n2'");
  });
});

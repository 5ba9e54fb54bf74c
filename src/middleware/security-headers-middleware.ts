import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

type HeaderCall = readonly ['set', string, string | number | readonly string[]] | readonly ['remove', string];

/**
 * What helmet does to a response, recorded: the calls it makes, in order, or undefined if it did anything but set or
 * remove headers, read anything of the request or the response, or not finish at once.
 */
function record(middleware: RequestHandler): HeaderCall[] | undefined {
  const calls: HeaderCall[] = [];
  let other = false;
  let finished = false;
  const watch = <T extends object>(target: T, allowed: Record<string, unknown>): T =>
    new Proxy(target, {
      get(_t, key) {
        if (typeof key === 'string' && key in allowed) return allowed[key];
        other = true;
        return undefined;
      },
      set() {
        other = true;
        return true;
      },
      has() {
        other = true;
        return false;
      },
    });
  const res = watch(
    {},
    {
      setHeader: (name: string, value: string | number | readonly string[]) => void calls.push(['set', name, value]),
      removeHeader: (name: string) => void calls.push(['remove', name]),
    },
  );
  try {
    middleware(watch({}, {}) as never, res as never, (error?: unknown) => {
      if (error !== undefined) other = true;
      finished = true;
    });
  } catch {
    return undefined;
  }
  return finished && !other ? calls : undefined;
}

/**
 * helmet's headers (house style H17), recorded once and replayed on each response. With the options the gateway uses,
 * each of helmet's eleven middlewares sets one constant header, and running them per request cost about 24 µs of CPU
 * per `GET /api/channels/:id` (issue 13, case 1). If helmet does anything else with the options given (reads the
 * request, as a CSP nonce would, or answers differently twice), helmet itself runs on every request.
 */
export function securityHeadersMiddleware(options: Readonly<HelmetOptions>): RequestHandler {
  const middleware = helmet(options);
  const calls = record(middleware);
  if (!calls || JSON.stringify(calls) !== JSON.stringify(record(middleware))) return middleware;
  return (_req, res, next) => {
    for (const call of calls) {
      if (call[0] === 'set') res.setHeader(call[1], call[2]);
      else res.removeHeader(call[1]);
    }
    next();
  };
}

import http from 'node:http';

export interface ReceivedRequest {
  headers: http.IncomingHttpHeaders;
  body: any;
  raw: string;
  at: number;
}

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedRequest[];
  /** While down, the receiver answers with this status (e.g. 503), or closes connections when it is 0. */
  setDown(status: number | false): void;
  close(): Promise<void>;
}

/** A local webhook receiver (the Hub's stand-in) on 127.0.0.1; can be switched "down" to test retries. */
export async function startReceiver(port = 0): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  let down: number | false = false;
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (down === 0) {
        req.socket.destroy();
        return;
      }
      if (down) {
        res.writeHead(down, { 'Content-Type': 'application/json' });
        res.end('{"success":false,"code":"INTERNAL_ERROR"}');
        return;
      }
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // keep raw
      }
      received.push({ headers: req.headers, body, raw, at: Date.now() });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"success":true,"code":"SUCCESS"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    received,
    setDown: (status) => {
      down = status;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

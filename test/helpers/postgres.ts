import net from 'node:net';
// The throwaway PostgreSQL cluster lives in bench/ (built into dist/ for npm run bench); the tests use the same one.
export { startPostgres, type TestPostgres } from '../../bench/postgres';

/** A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
export async function relayTo(port: number) {
  const sockets = new Set<net.Socket>();
  let up = true;
  const relay = net.createServer((client) => {
    if (!up) return client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    port: (relay.address() as net.AddressInfo).port,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      up = true;
    },
    close: () => new Promise<void>((resolve) => relay.close(() => resolve())),
  };
}

import http from 'node:http';
import axios, { type AxiosInstance, type AxiosRequestConfig } from 'axios';
import { engineHttpAdapter } from '../src/adapters/wppconnect/engine-http-adapter';
import { engineAxiosConfig } from '../src/adapters/wppconnect/wppconnect-client';

/**
 * Case 2c: what the engine client's transport costs per engine call, its own adapter (engine-http-adapter.ts) against
 * axios's own Node adapter with the timeout signal the client built per call before it. Both are axios instances with
 * the client's options, sending the text send's body to the simulator's send-message; the calls run in this process
 * (nothing else runs in it meanwhile), 10 in flight, in blocks taken in turn (A B B A …) against this VM's drift, and
 * this process's CPU per call is the figure. The simulator's side is the same for both and is not counted.
 */
export interface TransportCpu {
  oursUs: number;
  axiosUs: number;
  calls: number;
}

const IN_FLIGHT = 10;

/** The engine client's own instance options (its timeout, status, redirect and proxy choices), with `adapter`. */
function instance(baseURL: string, authorization: string, adapter: AxiosRequestConfig['adapter']): AxiosInstance {
  return axios.create({
    ...engineAxiosConfig(baseURL, 10_000, adapter),
    responseType: 'arraybuffer',
    headers: { Accept: 'application/json', Authorization: authorization },
    httpAgent: new http.Agent({ keepAlive: true, keepAliveMsecs: 60_000, scheduling: 'lifo' }),
  });
}

interface Side {
  client: AxiosInstance;
  signal: () => AbortSignal | undefined;
  cpuUs: number;
}

export async function engineTransportCpu(
  engineUrl: string,
  authorization: string,
  path: string,
  body: Record<string, unknown>,
  callsPerSide: number,
): Promise<TransportCpu> {
  const sides: { ours: Side; axios: Side } = {
    ours: { client: instance(engineUrl, authorization, engineHttpAdapter()), signal: () => undefined, cpuUs: 0 },
    axios: {
      client: instance(engineUrl, authorization, 'http'),
      // What the client passed before (wppconnect-client.ts): the caller's deadline joined with a timeout of its own.
      signal: () => AbortSignal.any([AbortSignal.timeout(25_000), AbortSignal.timeout(10_050)]),
      cpuUs: 0,
    },
  };
  const block = Math.max(IN_FLIGHT, Math.round(callsPerSide / 10));
  const blocks = Math.max(1, Math.round(callsPerSide / block));
  const run = async (side: Side, n: number) => {
    const lanes = Array.from({ length: IN_FLIGHT }, async (_, lane) => {
      for (let i = lane; i < n; i += IN_FLIGHT) {
        const res = await side.client.post(path, body, {
          headers: { 'Content-Type': 'application/json', 'X-Request-Id': `transport-${i}` },
          signal: side.signal(),
        });
        if (res.status >= 300) throw new Error(`case 2c: the engine answered HTTP ${res.status}`);
      }
    });
    await Promise.all(lanes);
  };
  // Warm-up of both (JIT, connections), not counted.
  await run(sides.ours, block);
  await run(sides.axios, block);
  for (let b = 0; b < blocks; b++) {
    for (const side of b % 2 === 0 ? [sides.ours, sides.axios] : [sides.axios, sides.ours]) {
      const before = process.cpuUsage();
      await run(side, block);
      const used = process.cpuUsage(before);
      side.cpuUs += used.user + used.system;
    }
  }
  const calls = blocks * block;
  return { oursUs: sides.ours.cpuUs / calls, axiosUs: sides.axios.cpuUs / calls, calls };
}

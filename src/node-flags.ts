/**
 * The Node flags every start of the gateway passes: `npm start`, ecosystem.config.js (pm2's `node_args`), the demo and
 * the bench. test/unit/node-flags.test.ts keeps package.json's start script and the process file in step with this
 * list.
 *
 * `--max-old-space-size=1024`. V8 lets the old generation grow past its live data before a full collection by a
 * factor it derives from this limit (V8's heap-controller.h): 1.3 up to 256 MB, rising to 2 just under 2 GB, and 4
 * from 2 GB up. Without the flag the limit is a quarter of the machine's memory: 512 MB on a 2 GB VPS (a factor of
 * 1.4), but 4.3 GB on a 24 GB host (a factor of 4). At 1 GB the factor is 1.6. With 1 000 channels waiting for a scan,
 * each QR lives one rotation (20 s), so it reaches the old generation and dies there. On the bigger host the
 * gateway's RSS then ran between 91 and 209 MB across runs (issue 13, case 8), though the process kept about 30 MB of
 * live heap. One fixed limit makes memory the same on every host. 1 GB is the level at which pm2 restarts the process
 * anyway (`max_memory_restart`), and it leaves room for the largest bodies: a 100 MB engine webhook with media is
 * parsed on the heap.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-old-space-size=1024'];

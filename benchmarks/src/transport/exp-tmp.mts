import { createRequire } from 'node:module';
import { benchTransport, countAppends, pump, Receiver } from './pump.js';
import { encodeFrame, HANDSHAKE_PATH, handshakeHeaders } from '@flotilla/transport';
import { MessageType } from '@flotilla/core';
const require = createRequire(import.meta.url);
const mode = process.argv[2];
const total = Number(process.argv[3] ?? 256) * 1024 * 1024;
const t0 = process.hrtime.bigint();
if (mode === 'send-only') {
  // transport a dials a raw uWS sink that only counts
  const uWS = require('../../../packages/transport/node_modules/uWebSockets.js');
  let received = 0; let done!: () => void; const fin = new Promise<void>((r) => (done = r));
  const app = uWS.App().ws('/*', { maxPayloadLength: 4 << 20, message: (_ws: unknown, ab: ArrayBuffer) => { received += ab.byteLength; if (received >= total) done(); } });
  const ls = await new Promise<unknown>((r) => app.listen('127.0.0.1', 0, r));
  const a = benchTransport('a'); await a.start(new Receiver());
  a.addPeer('b', `ws://127.0.0.1:${uWS.us_socket_local_port(ls)}`);
  while (a.connectedPeers().length === 0) await new Promise((r) => setTimeout(r, 5));
  const s0 = process.hrtime.bigint();
  await pump(a, 'a', 'b', total); await fin;
  console.log(mode, (total / (Number(process.hrtime.bigint() - s0) / 1e9) / 2 ** 30).toFixed(2), 'GiB/s');
  await a.close(); uWS.us_listen_socket_close(ls);
} else {
  // raw ws client sends pre-encoded frames to transport b
  const WebSocket = require('../../../packages/transport/node_modules/ws');
  const rb = new Receiver(); const b = benchTransport('b'); await b.start(rb); b.addPeer('a', 'ws://127.0.0.1:1');
  let done!: () => void; const fin = new Promise<void>((r) => (done = r));
  countAppends(rb, total, () => done());
  const frame = encodeFrame('bench', 'a', 'b', [{ type: MessageType.Append, from: 'a', to: 'b', term: 1, prevIndex: 0, prevTerm: 1, commit: 0, entries: [{ index: 1, term: 1, type: 0, data: new Uint8Array(65280) }] }]).slice();
  const c = new WebSocket(`ws://127.0.0.1:${b.port}${HANDSHAKE_PATH}`, { headers: handshakeHeaders('bench-secret', 'bench', 'a', 'b'), perMessageDeflate: false });
  await new Promise((r) => c.on('open', r));
  const s0 = process.hrtime.bigint();
  let sent = 0;
  const pumpRaw = () => { while (sent < total && c.bufferedAmount < 2 << 20) { c.send(frame, { binary: true }, () => { if (c.bufferedAmount < 512 << 10) pumpRaw(); }); sent += 65280; } };
  pumpRaw(); await fin;
  console.log(mode, (total / (Number(process.hrtime.bigint() - s0) / 1e9) / 2 ** 30).toFixed(2), 'GiB/s');
  c.terminate(); await b.close();
}

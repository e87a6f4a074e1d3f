/**
 * `pnpm --filter @flotilla/transport fuzz -- --iterations N [--seed S] [--live-every K]`
 *
 * Feeds random bytes and mutated valid frames to the decoder, and every K-th input (default 20)
 * also to a live server over an authenticated connection. A failure is: the decoder throwing
 * anything but FrameError, a decode taking over 250 ms, an accepted frame that does not re-encode,
 * the server not delivering a valid frame sent after an input it accepted, the server no longer
 * serving, or the process growing by more than 256 MiB. Ends with
 * `fuzz: N iterations, F failures` and exits non-zero on any failure.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import WebSocket from 'ws';
import { MessageType } from '@flotilla/core';
import type { Message, MessageReceiver } from '@flotilla/core';
import { decodeFrame, encodeFrame, FrameError, HANDSHAKE_PATH, handshakeHeaders, WebSocketTransport } from '../src/index.js';
import { messageArb } from '../test/arbitraries.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
function option(name: string, fallback: number): number {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`fuzz: --${name} needs a non-negative number`);
    process.exit(2);
  }
  return value;
}
const iterations = option('iterations', 10_000);
const seed = option('seed', Date.now() % 2 ** 31);
const liveEvery = option('live-every', 20);
const CLUSTER = 'fuzz-cluster';
const SECRET = 'fuzz-secret';
const MAX_FRAME = 256 * 1024;

// xorshift32: reproducible from --seed
let state = seed | 0 || 1;
function rand(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
}
const int = (n: number): number => Math.floor(rand() * n);

let failures = 0;
function fail(what: string, input?: Uint8Array): void {
  failures++;
  if (failures <= 10) {
    console.error(`fuzz: FAILURE ${what}${input ? ` (input ${Buffer.from(input.subarray(0, 96)).toString('hex')}${input.length > 96 ? '…' : ''}, ${input.length} bytes)` : ''}`);
  }
}

// A corpus of valid frames from p to s.
const corpus: Uint8Array[] = fc
  .sample(fc.array(messageArb, { minLength: 1, maxLength: 6 }), { numRuns: 300, seed })
  .map((messages) => encodeFrame(CLUSTER, 'p', 's', messages.map((m) => ({ ...m, from: 'p', to: 's' }) as Message)).slice());

const INTERESTING32 = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

function mutate(): Uint8Array {
  const mode = int(10);
  if (mode === 0) {
    const out = new Uint8Array(int(600));
    for (let i = 0; i < out.length; i++) out[i] = int(256);
    if (out.length >= 8 && rand() < 0.5) out.set([0x46, 0x4c, 0x54, 0x31], 4); // a plausible header
    return out;
  }
  const base = corpus[int(corpus.length)]!;
  let out = base.slice();
  const edits = 1 + int(4);
  for (let e = 0; e < edits; e++) {
    const len = out.length;
    switch (int(7)) {
      case 0: // flip bytes
        for (let i = 0, n = 1 + int(8); i < n && len > 0; i++) out[int(len)] = int(256);
        break;
      case 1: // truncate
        out = out.slice(0, int(len + 1));
        break;
      case 2: // overwrite a 32-bit word with an interesting value
        if (len >= 4) new DataView(out.buffer, out.byteOffset).setUint32(int(len - 3), INTERESTING32[int(INTERESTING32.length)]!, true);
        break;
      case 3: // overwrite a 16-bit word (vtable entries)
        if (len >= 2) new DataView(out.buffer, out.byteOffset).setUint16(int(len - 1), int(2) ? int(65536) : int(64), true);
        break;
      case 4: {
        // splice another frame's tail
        const other = corpus[int(corpus.length)]!;
        const cut = int(len + 1);
        const from = int(other.length + 1);
        const merged = new Uint8Array(cut + other.length - from);
        merged.set(out.subarray(0, cut));
        merged.set(other.subarray(from), cut);
        out = merged;
        break;
      }
      case 5: {
        // append garbage
        const extra = new Uint8Array(int(64));
        for (let i = 0; i < extra.length; i++) extra[i] = int(256);
        const merged = new Uint8Array(len + extra.length);
        merged.set(out);
        merged.set(extra, len);
        out = merged;
        break;
      }
      default: // set a high byte (uint64 range, union tags, lengths)
        if (len > 0) out[int(len)] = 0xff;
    }
  }
  return out;
}

function checkDecoder(input: Uint8Array): boolean {
  const started = performance.now();
  let accepted = false;
  try {
    const frame = decodeFrame(input, { clusterId: CLUSTER, from: 'p', to: 's', maxFrameBytes: MAX_FRAME });
    accepted = true;
    try {
      const again = decodeFrame(encodeFrame(CLUSTER, 'p', 's', frame.messages).slice());
      assert.equal(again.messages.length, frame.messages.length);
    } catch (error) {
      fail(`an accepted frame does not re-encode: ${String(error)}`, input);
    }
  } catch (error) {
    if (!(error instanceof FrameError)) fail(`decoder threw ${String(error)}`, input);
  }
  const took = performance.now() - started;
  if (took > 250) fail(`decode took ${took.toFixed(0)} ms`, input);
  return accepted;
}

// --- the live server ---------------------------------------------------------------------------

class Inbox implements MessageReceiver {
  probes = new Set<number>();
  receive(messages: readonly Message[]): void {
    for (const m of messages) if (m.type === MessageType.TimeoutNow && m.term >= 1e12) this.probes.add(m.term);
  }
  peerUnreachable(): void {}
}
const inbox = new Inbox();
const server = new WebSocketTransport({
  id: 's',
  clusterId: CLUSTER,
  secret: SECRET,
  listen: { host: '127.0.0.1', port: 0 },
  maxFrameBytes: MAX_FRAME,
  logger: { warn: () => undefined },
});
await server.start(inbox);
server.addPeer('p', 'ws://127.0.0.1:1'); // a known peer; 'p' < 's', so p dials and s only accepts

let client: WebSocket | undefined;
async function connection(): Promise<WebSocket> {
  if (client && client.readyState === WebSocket.OPEN) return client;
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}${HANDSHAKE_PATH}`, {
    headers: handshakeHeaders(SECRET, CLUSTER, 'p', 's'),
    maxPayload: MAX_FRAME,
    perMessageDeflate: false,
  });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('the server refused a valid handshake')));
  });
  client = ws;
  return ws;
}

let probeTerm = 1e12;
async function checkLive(input: Uint8Array, accepted: boolean): Promise<void> {
  let ws: WebSocket;
  try {
    ws = await connection();
  } catch (error) {
    fail(`live server: ${String(error)}`);
    return;
  }
  const term = ++probeTerm;
  const probe = encodeFrame(CLUSTER, 'p', 's', [{ type: MessageType.TimeoutNow, from: 'p', to: 's', term }]).slice();
  const closed = new Promise<'closed'>((resolve) => ws.once('close', () => resolve('closed')));
  ws.send(input);
  ws.send(probe);
  const deadline = Date.now() + 2000;
  let outcome: 'closed' | 'delivered' | 'timeout' = 'timeout';
  while (Date.now() < deadline) {
    if (inbox.probes.has(term)) {
      outcome = 'delivered';
      break;
    }
    const r = await Promise.race([closed, new Promise<null>((resolve) => setTimeout(resolve, 1, null))]);
    if (r === 'closed') {
      outcome = inbox.probes.has(term) ? 'delivered' : 'closed';
      break;
    }
  }
  inbox.probes.delete(term);
  if (outcome === 'timeout') fail('live server: no delivery and no close within 2 s', input);
  else if (accepted && outcome !== 'delivered') fail('live server: closed the connection on a frame the decoder accepts', input);
  else if (!accepted && outcome === 'delivered') fail('live server: kept a connection after a frame the decoder rejects', input);
}

// --- the run -----------------------------------------------------------------------------------

const started = Date.now();
const watchdog = setTimeout(() => {
  console.error('fuzz: FAILURE hung for 10 minutes');
  console.log(`fuzz: ${iterations} iterations, ${failures + 1} failures`);
  process.exit(1);
}, 600_000);
let baseline = 0;
for (let i = 0; i < iterations; i++) {
  const input = mutate();
  const accepted = checkDecoder(input);
  if (liveEvery > 0 && i % liveEvery === 0) await checkLive(input, accepted);
  if (i === Math.min(1000, iterations - 1)) {
    global.gc?.();
    baseline = process.memoryUsage().rss;
  }
}
const grown = process.memoryUsage().rss - baseline;
if (grown > 256 * 1024 * 1024) fail(`memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
// The server still serves after everything.
client?.terminate();
client = undefined;
await checkLive(corpus[0]!, true);
client?.terminate();
const rejected = Object.values(server.stats().rejectedFrames).reduce((a, b) => a + (b ?? 0), 0);
await server.close();
clearTimeout(watchdog);
console.error(`fuzz: seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s, ${rejected} frames rejected by the live server`);
console.log(`fuzz: ${iterations} iterations, ${failures} failures`);
process.exit(failures > 0 ? 1 : 0);

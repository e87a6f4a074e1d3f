/** Encode/decode of an Append of 1,000 128-byte entries: FlatBuffers frames vs a hand-written Buffer layout. */
import { Bench } from 'tinybench';
import { MessageType } from '@flotilla/core';
import type { AppendMessage, Entry, Message } from '@flotilla/core';
import { decodeFrame, FrameEncoder } from '@flotilla/transport';
import { printTable } from '../report.js';

export const ENTRIES = 1000;
export const ENTRY_BYTES = 128;

export function appendOf(count: number, bytes: number, from = 'a', to = 'b'): AppendMessage {
  const data = new Uint8Array(bytes).fill(7);
  const entries: Entry[] = Array.from({ length: count }, (_, i) => ({ index: 1001 + i, term: 5, type: 0, data }));
  return { type: MessageType.Append, from, to, term: 5, prevIndex: 1000, prevTerm: 5, commit: 990, entries };
}

/** The baseline: a fixed header, then per entry term u64, type u8, length u32 and the bytes. */
export class HandWritten {
  private buffer = Buffer.allocUnsafe(1 << 20);

  encode(m: AppendMessage): Buffer {
    let size = 40;
    for (const e of m.entries) size += 13 + e.data.byteLength;
    if (this.buffer.length < size) this.buffer = Buffer.allocUnsafe(size * 2);
    const b = this.buffer;
    b.writeUInt32LE(m.type, 0);
    b.writeUInt32LE(m.entries.length, 4);
    b.writeDoubleLE(m.term, 8); // a double is exact for safe integers and cheaper than a BigInt
    b.writeDoubleLE(m.prevIndex, 16);
    b.writeDoubleLE(m.prevTerm, 24);
    b.writeDoubleLE(m.commit, 32);
    let at = 40;
    for (const e of m.entries) {
      b.writeDoubleLE(e.term, at);
      b[at + 8] = e.type;
      b.writeUInt32LE(e.data.byteLength, at + 9);
      b.set(e.data, at + 13);
      at += 13 + e.data.byteLength;
    }
    return b.subarray(0, at);
  }

  decode(b: Buffer, from: string, to: string): AppendMessage {
    const count = b.readUInt32LE(4);
    const prevIndex = b.readDoubleLE(16);
    const entries = new Array<Entry>(count);
    let at = 40;
    for (let i = 0; i < count; i++) {
      const term = b.readDoubleLE(at);
      const type = b[at + 8] as 0 | 1 | 2;
      const length = b.readUInt32LE(at + 9);
      entries[i] = { index: prevIndex + 1 + i, term, type, data: b.subarray(at + 13, at + 13 + length) };
      at += 13 + length;
    }
    return { type: MessageType.Append, from, to, term: b.readDoubleLE(8), prevIndex, prevTerm: b.readDoubleLE(24), commit: b.readDoubleLE(32), entries };
  }
}

function nsPerEntry(task: { result?: unknown } | undefined): number {
  const result = task?.result as { latency?: { mean: number } } | undefined;
  return ((result?.latency?.mean ?? Number.NaN) * 1e6) / ENTRIES;
}

export async function runCodecBenchmarks(quick: boolean): Promise<void> {
  const time = quick ? 400 : 2000;
  const message = appendOf(ENTRIES, ENTRY_BYTES);
  const messages: Message[] = [message];
  const encoder = new FrameEncoder(256 * 1024);
  const frame = encoder.encode('bench', 'a', 'b', messages).slice();
  const hand = new HandWritten();
  const handBytes = Buffer.from(hand.encode(message));
  let sink = 0;
  const bench = new Bench({ time, warmupTime: time / 4 });
  bench.add('flatbuffers encode', () => {
    sink += encoder.encode('bench', 'a', 'b', messages).byteLength;
  });
  bench.add('hand-written encode', () => {
    sink += hand.encode(message).byteLength;
  });
  bench.add('flatbuffers decode (validating)', () => {
    sink += decodeFrame(frame, { clusterId: 'bench', from: 'a', to: 'b' }).messages.length;
  });
  bench.add('hand-written decode', () => {
    sink += hand.decode(handBytes, 'a', 'b').entries.length;
  });
  await bench.run();
  const [enc, encBase, dec, decBase] = bench.tasks.map(nsPerEntry) as [number, number, number, number];
  printTable(
    `Frame codec: one Append of ${ENTRIES} entries of ${ENTRY_BYTES} B (${frame.byteLength} B as a frame, ${handBytes.byteLength} B hand-written)`,
    ['operation', 'flotilla ns/entry', 'hand-written ns/entry', 'ratio'],
    [
      ['encode', enc.toFixed(1), encBase.toFixed(1), `${(enc / encBase).toFixed(2)}x`],
      ['decode', dec.toFixed(1), decBase.toFixed(1), `${(dec / decBase).toFixed(2)}x`],
    ],
  );
  if (sink === 42) console.log('');
}

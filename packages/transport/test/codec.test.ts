import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LogEntry, MessageType } from '@flotilla/core';
import type { Message } from '@flotilla/core';
import { decodeFrame, encodeFrame, FrameError } from '../src/codec.js';
import { Body } from '../src/generated/frame_generated.js';
import { FrameWriter } from '../src/frame-writer.js';
import { readWithGenerated } from './generated-reader.js';
import { CLUSTER, FROM, messageArb, plain, TO } from './arbitraries.js';

test('the union tags equal core MessageType codes', () => {
  for (const [name, code] of Object.entries(MessageType)) {
    assert.equal((Body as unknown as Record<string, number>)[name], code, name);
  }
});

test('every message type round-trips (property)', () => {
  const writer = new FrameWriter(64);
  fc.assert(
    fc.property(fc.array(messageArb, { minLength: 1, maxLength: 8 }), (messages) => {
      const bytes = encodeFrame(CLUSTER, FROM, TO, messages, writer).slice();
      const frame = decodeFrame(bytes, { clusterId: CLUSTER, from: FROM, to: TO });
      assert.equal(frame.clusterId, CLUSTER);
      assert.deepStrictEqual(plain(frame.messages), plain(messages));
    }),
    { numRuns: 600 },
  );
});

test('each message type is covered by the generator', () => {
  const seen = new Set<number>();
  fc.assert(fc.property(messageArb, (m) => { seen.add(m.type); }), { numRuns: 2000 });
  assert.equal(seen.size, 15);
});

test('generated accessors read what the encoder wrote, field by field', () => {
  const writer = new FrameWriter(64);
  fc.assert(
    fc.property(fc.array(messageArb, { maxLength: 4 }), (messages) => {
      const bytes = encodeFrame(CLUSTER, FROM, TO, messages, writer).slice();
      const frame = readWithGenerated(bytes);
      assert.equal(frame.clusterId, CLUSTER);
      assert.equal(frame.from, FROM);
      assert.equal(frame.to, TO);
      assert.deepStrictEqual(plain(frame.messages), plain(messages));
    }),
    { numRuns: 600 },
  );
});

test('frames grow the writer past its first allocation and stay readable', () => {
  const writer = new FrameWriter(64);
  const data = new Uint8Array(100_000).map((_, i) => i & 0xff);
  const entries = Array.from({ length: 50 }, (_, i) => ({ index: 8 + i, term: 2 ** 40 + i, type: 0 as const, data: data.subarray(i, i + 2000 + i) }));
  const m: Message = { type: MessageType.Append, from: FROM, to: TO, term: 2 ** 40 + 60, prevIndex: 7, prevTerm: 3, commit: 2 ** 50, entries };
  for (let round = 0; round < 2; round++) {
    const bytes = encodeFrame(CLUSTER, FROM, TO, [m, m], writer).slice();
    assert.deepStrictEqual(plain(readWithGenerated(bytes).messages), plain([m, m]));
    assert.deepStrictEqual(plain(decodeFrame(bytes).messages), plain([m, m]));
  }
  assert.ok(writer.capacity() >= 2 * 50 * 2000);
});

test('entry data are zero-copy views of the frame buffer', () => {
  const data = new Uint8Array(128).fill(7);
  const m: Message = {
    type: MessageType.Append, from: FROM, to: TO, term: 3, prevIndex: 10, prevTerm: 2, commit: 9,
    entries: [{ index: 11, term: 3, type: 0, data }, { index: 12, term: 3, type: 0, data }],
  };
  const bytes = encodeFrame(CLUSTER, FROM, TO, [m]).slice();
  const frame = decodeFrame(bytes);
  const decoded = frame.messages[0]!;
  assert.equal(decoded.type, MessageType.Append);
  if (decoded.type !== MessageType.Append) return;
  assert.equal(decoded.entries[1]!.data.buffer, bytes.buffer);
});

// LogEntry (core's types.ts): object literals would let V8 pretenure every decoded entry after a
// quiet period, so that a busy follower collects them only with full collections.
test('decoded entries are LogEntry instances', () => {
  const data = new Uint8Array(16).fill(1);
  const m: Message = {
    type: MessageType.Append, from: FROM, to: TO, term: 3, prevIndex: 10, prevTerm: 2, commit: 9,
    entries: [{ index: 11, term: 3, type: 0, data }, { index: 12, term: 3, type: 2, data }],
  };
  const decoded = decodeFrame(encodeFrame(CLUSTER, FROM, TO, [m]).slice()).messages[0]!;
  if (decoded.type !== MessageType.Append) assert.fail(`decoded a ${decoded.type}`);
  assert.equal(decoded.entries.length, 2);
  for (const entry of decoded.entries) assert.ok(entry instanceof LogEntry, `a ${entry.constructor.name}`);
});

test('uint64 above 2^53 - 1 is rejected', () => {
  const m: Message = { type: MessageType.TimeoutNow, from: FROM, to: TO, term: 0x1234 };
  const bytes = encodeFrame(CLUSTER, FROM, TO, [m]).slice();
  // find the term (0x1234 little-endian) and set its high word above 2^21
  const at = Buffer.from(bytes).indexOf(Buffer.from([0x34, 0x12, 0, 0, 0, 0, 0, 0]));
  assert.ok(at > 0);
  bytes[at + 7] = 0x01;
  assert.throws(() => decodeFrame(bytes), (e: unknown) => e instanceof FrameError && e.reason === 'out-of-range');
});

test('the encoder refuses numbers that cannot go on the wire', () => {
  for (const term of [-1, 1.5, 2 ** 53, Number.NaN]) {
    assert.throws(() => encodeFrame(CLUSTER, FROM, TO, [{ type: MessageType.TimeoutNow, from: FROM, to: TO, term }]), RangeError);
  }
});

test('frames for another cluster, node or sender are rejected', () => {
  const bytes = encodeFrame(CLUSTER, FROM, TO, [{ type: MessageType.TimeoutNow, from: FROM, to: TO, term: 1 }]).slice();
  const reason = (expect: Parameters<typeof decodeFrame>[1]) => {
    try { decodeFrame(bytes, expect); return 'ok'; } catch (e) { return (e as FrameError).reason; }
  };
  assert.equal(reason({ clusterId: 'other' }), 'wrong-cluster');
  assert.equal(reason({ to: 'node-c' }), 'wrong-recipient');
  assert.equal(reason({ from: 'node-c' }), 'wrong-sender');
  assert.equal(reason({ maxFrameBytes: 16 }), 'oversized');
  assert.equal(reason({ clusterId: CLUSTER, from: FROM, to: TO }), 'ok');
});

test('every truncation of a valid frame is rejected with a FrameError', () => {
  fc.assert(
    fc.property(fc.array(messageArb, { minLength: 1, maxLength: 4 }), (messages) => {
      const bytes = encodeFrame(CLUSTER, FROM, TO, messages).slice();
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, bytes.length >> 6)) {
        try {
          decodeFrame(bytes.subarray(0, cut));
        } catch (e) {
          assert.ok(e instanceof FrameError, String(e));
        }
      }
    }),
    { numRuns: 100 },
  );
});

test('random mutations never throw anything but FrameError', () => {
  fc.assert(
    fc.property(
      fc.array(messageArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      (messages, flips) => {
        const bytes = encodeFrame(CLUSTER, FROM, TO, messages).slice();
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        try {
          decodeFrame(bytes);
        } catch (e) {
          assert.ok(e instanceof FrameError, String(e));
        }
      },
    ),
    { numRuns: 1000 },
  );
});

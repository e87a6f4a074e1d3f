/**
 * Frame encoding and decoding (schema/frame.fbs).
 *
 * Frames are FlatBuffers of that schema, written by FrameWriter (numbers for uint64 fields, no
 * BigInt; Append entries as parallel vectors, one copy per payload, no per-entry table) and read
 * by a bounds-checked reader: the TypeScript FlatBuffers runtime has no verifier, so the reader
 * walks the frame once, validates every field and builds core's Message objects. Entry,
 * snapshot, proposal and result bytes are views into the decoded buffer (zero copy). The tests
 * read what the writer wrote through the flatc-generated code, field by field.
 */
import { EntryType, LogEntry, MessageType } from '@flotilla/core';
import type { ConfigState, Entry, Message, NodeId, SnapshotMeta } from '@flotilla/core';
import { FrameWriter } from './frame-writer.js';

/** The 4-byte file identifier at offset 4 of every frame. */
export const FRAME_IDENTIFIER = 'FLT1';
/** Longest cluster id, node id or leader hint accepted on the wire, in UTF-8 bytes. */
export const MAX_ID_BYTES = 255;

/** Why a frame was rejected (the keys of `stats().rejectedFrames`). */
export type FrameRejectReason =
  | 'truncated'
  | 'malformed'
  | 'bad-identifier'
  | 'unknown-message-type'
  | 'out-of-range'
  | 'inconsistent'
  | 'missing-field'
  | 'invalid-utf8'
  | 'oversized'
  | 'wrong-cluster'
  | 'wrong-recipient'
  | 'wrong-sender';

export class FrameError extends Error {
  constructor(
    readonly reason: FrameRejectReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'FrameError';
  }
}

export interface DecodedFrame {
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: Message[];
}

// ---------------------------------------------------------------------------------------------
// Encoding

const TWO_32 = 0x1_0000_0000;
const IDENTIFIER = new TextEncoder().encode(FRAME_IDENTIFIER);

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_32) throw new RangeError(`${what} must be a uint32, got ${value}`);
  return value;
}

/** Append's parallel entry vectors (see the schema); returns [terms, types, ends, payloads]. */
function encodeEntries(w: FrameWriter, entries: readonly Entry[], prevIndex: number): [number, number, number, number] {
  const count = entries.length;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const entry = entries[i]!;
    if (entry.index !== prevIndex + 1 + i) throw new RangeError(`entry ${i} has index ${entry.index}, expected ${prevIndex + 1 + i}`);
    total += entry.data.byteLength;
  }
  if (total >= TWO_32) throw new RangeError('entry payloads exceed 4 GiB');
  // payloads: one concatenation, copied straight into the frame.
  let at = w.startVector(1, total, 1);
  let bytes = w.bytes();
  for (let i = 0; i < count; i++) {
    const data = entries[i]!.data;
    bytes.set(data, at);
    at += data.byteLength;
  }
  const payloads = w.endVector(total);
  // entry_ends: running end offsets.
  at = w.startVector(4, count, 4);
  const view = w.dataView();
  let end = 0;
  for (let i = 0; i < count; i++) {
    end += entries[i]!.data.byteLength;
    view.setUint32(at + 4 * i, end, true);
  }
  const ends = w.endVector(count);
  at = w.startVector(1, count, 1);
  bytes = w.bytes();
  for (let i = 0; i < count; i++) {
    const type = entries[i]!.type;
    if (type !== EntryType.Normal && type !== EntryType.Noop && type !== EntryType.Config) throw new RangeError(`unknown entry type ${type}`);
    bytes[at + i] = type;
  }
  const types = w.endVector(count);
  at = w.startVector(8, count, 8);
  for (let i = 0; i < count; i++) w.setU64(at + 8 * i, entries[i]!.term, 'entry term');
  const terms = w.endVector(count);
  return [terms, types, ends, payloads];
}

// UTF-8 of recent ids, so that a frame's ids are not encoded (into a fresh ArrayBuffer each) for
// every frame, and a decoder can compare an id with the one it expects without decoding it.
const utf8Cache = new Map<string, Uint8Array>();
const textEncoder = new TextEncoder();

function utf8Of(value: string): Uint8Array {
  let bytes = utf8Cache.get(value);
  if (bytes === undefined) {
    bytes = textEncoder.encode(value);
    if (value.length > 64) return bytes;
    if (utf8Cache.size >= 1024) utf8Cache.clear();
    utf8Cache.set(value, bytes);
  }
  return bytes;
}

function encodeString(w: FrameWriter, value: string): number {
  return w.string(utf8Of(value));
}

function encodeStrings(w: FrameWriter, ids: readonly string[]): number {
  const offsets = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) offsets[i] = encodeString(w, ids[i]!);
  return w.refVector(offsets);
}

function encodeConfig(w: FrameWriter, config: ConfigState): number {
  const voters = encodeStrings(w, config.voters);
  const learners = encodeStrings(w, config.learners);
  const outgoing = encodeStrings(w, config.outgoingVoters);
  const promote = config.autoPromote ?? [];
  // Written only when it names someone: frames without it are exactly what they were before the field.
  const autoPromote = promote.length > 0 ? encodeStrings(w, promote) : 0;
  w.startTable(4);
  w.ref(0, voters);
  w.ref(1, learners);
  w.ref(2, outgoing);
  w.ref(3, autoPromote);
  return w.endTable();
}

/**
 * One message's body table. Field slots are those of schema/frame.fbs (the order of declaration);
 * the test "generated accessors read what the encoder wrote" reads every field back through the
 * flatc-generated code.
 */
function encodeBody(w: FrameWriter, m: Message): number {
  switch (m.type) {
    case MessageType.Vote:
    case MessageType.PreVote:
      w.startTable(4);
      w.u64(0, m.term, 'term');
      w.u64(1, m.lastLogIndex, 'lastLogIndex');
      w.u64(2, m.lastLogTerm, 'lastLogTerm');
      w.bool(3, m.transfer);
      return w.endTable();
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      w.startTable(2);
      w.u64(0, m.term, 'term');
      w.bool(1, m.reject);
      return w.endTable();
    case MessageType.Append: {
      const [terms, types, ends, payloads] = encodeEntries(w, m.entries, m.prevIndex);
      w.startTable(8);
      w.u64(0, m.term, 'term');
      w.u64(1, m.prevIndex, 'prevIndex');
      w.u64(2, m.prevTerm, 'prevTerm');
      w.u64(3, m.commit, 'commit');
      w.ref(4, terms);
      w.ref(5, types);
      w.ref(6, ends);
      w.ref(7, payloads);
      return w.endTable();
    }
    case MessageType.AppendResponse:
      w.startTable(5);
      w.u64(0, m.term, 'term');
      w.u64(1, m.index, 'index');
      w.u64(3, m.hintIndex, 'hintIndex');
      w.u64(4, m.hintTerm, 'hintTerm');
      w.bool(2, m.reject);
      return w.endTable();
    case MessageType.Heartbeat:
      w.startTable(3);
      w.u64(0, m.term, 'term');
      w.u64(1, m.commit, 'commit');
      w.u64(2, m.context, 'context');
      return w.endTable();
    case MessageType.HeartbeatResponse:
      w.startTable(2);
      w.u64(0, m.term, 'term');
      w.u64(1, m.context, 'context');
      return w.endTable();
    case MessageType.Snapshot: {
      const config = encodeConfig(w, m.meta.config);
      w.startTable(3);
      w.u64(0, m.meta.index, 'meta.index');
      w.u64(1, m.meta.term, 'meta.term');
      w.ref(2, config);
      const meta = w.endTable();
      const data = w.byteVector(m.data);
      const checksum = u32(m.checksum, 'checksum');
      w.startTable(6);
      w.u64(0, m.term, 'term');
      w.u64(2, m.offset, 'offset');
      w.ref(1, meta);
      w.ref(3, data);
      w.u32(5, checksum);
      w.bool(4, m.done);
      return w.endTable();
    }
    case MessageType.SnapshotResponse:
      w.startTable(4);
      w.u64(0, m.term, 'term');
      w.u64(1, m.index, 'index');
      w.u64(2, m.nextOffset, 'nextOffset');
      w.bool(3, m.reject);
      return w.endTable();
    case MessageType.TimeoutNow:
      w.startTable(1);
      w.u64(0, m.term, 'term');
      return w.endTable();
    case MessageType.ReadIndex:
      w.startTable(2);
      w.u64(0, m.term, 'term');
      w.u64(1, m.requestId, 'requestId');
      return w.endTable();
    case MessageType.ReadIndexResponse:
      w.startTable(4);
      w.u64(0, m.term, 'term');
      w.u64(1, m.requestId, 'requestId');
      w.u64(2, m.index, 'index');
      w.bool(3, m.reject);
      return w.endTable();
    case MessageType.Propose: {
      const data = w.byteVector(m.data);
      w.startTable(3);
      w.u64(0, m.term, 'term');
      w.u64(1, m.requestId, 'requestId');
      w.ref(2, data);
      return w.endTable();
    }
    case MessageType.ProposeResponse: {
      const hint = m.leaderHint === '' ? 0 : encodeString(w, m.leaderHint);
      const result = w.byteVector(m.result);
      w.startTable(7);
      w.u64(0, m.term, 'term');
      w.u64(1, m.requestId, 'requestId');
      w.u64(3, m.index, 'index');
      w.u64(4, m.entryTerm, 'entryTerm');
      w.ref(5, hint);
      w.ref(6, result);
      w.u8(2, m.error);
      return w.endTable();
    }
    default:
      throw new RangeError(`unknown message type ${(m as { type: unknown }).type}`);
  }
}

/**
 * Encodes one frame. The returned bytes are a view into `writer`'s memory, valid until the
 * writer is used again (the transport replaces its writer when a socket kept such a view).
 * Throws RangeError on values that cannot go on the wire (negative, unsafe or fractional numbers).
 */
export function encodeFrame(clusterId: string, from: NodeId, to: NodeId, messages: readonly Message[], writer: FrameWriter = new FrameWriter(1024)): Uint8Array {
  const w = writer;
  w.clear();
  const offsets = new Array<number>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const body = encodeBody(w, m);
    w.startTable(2);
    w.ref(1, body);
    w.u8(0, m.type);
    offsets[i] = w.endTable();
  }
  const vector = w.refVector(offsets);
  const toAt = encodeString(w, to);
  const fromAt = encodeString(w, from);
  const clusterAt = encodeString(w, clusterId);
  w.startTable(4);
  w.ref(0, clusterAt);
  w.ref(1, fromAt);
  w.ref(2, toAt);
  w.ref(3, vector);
  return w.finish(w.endTable(), IDENTIFIER);
}

/** An upper bound on the encoded size of one message (used to split batches into frames). */
export function estimateMessageBytes(m: Message): number {
  switch (m.type) {
    case MessageType.Append: {
      let bytes = 96;
      for (const e of m.entries) bytes += e.data.byteLength + 16;
      return bytes;
    }
    case MessageType.Snapshot: {
      let bytes = 160 + m.data.byteLength;
      const c = m.meta.config;
      for (const id of [...c.voters, ...c.learners, ...c.outgoingVoters, ...(c.autoPromote ?? [])]) bytes += 12 + id.length * 3;
      return bytes;
    }
    case MessageType.Propose:
      return 64 + m.data.byteLength;
    case MessageType.ProposeResponse:
      return 96 + m.result.byteLength + m.leaderHint.length * 3;
    default:
      return 64;
  }
}

/** Fixed frame overhead on top of the messages (header, ids, vtables, alignment). */
export function estimateFrameOverhead(clusterId: string, from: string, to: string): number {
  return 64 + 3 * (clusterId.length + from.length + to.length);
}

// ---------------------------------------------------------------------------------------------
// Decoding

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_HI = 0x1f_ffff; // 2^53 - 1 = 0x1fffff_ffffffff

interface Table {
  readonly pos: number;
  readonly vt: number;
  readonly vsize: number;
  readonly tsize: number;
}

/** Largest ArrayBuffer whose view is kept for the next frame (Buffer's pool is 8 KiB). */
const MAX_SHARED_VIEW_BYTES = 64 * 1024;
let lastBuffer: ArrayBufferLike | undefined;
let lastView: DataView | undefined;

class Reader {
  private readonly view: DataView;
  private readonly base: number;
  readonly len: number;

  constructor(readonly bytes: Uint8Array) {
    // Small frames received into Buffer's shared pool share an ArrayBuffer: one view serves them
    // all (building a DataView per frame cost more than decoding a small frame's fields). Every
    // read below is bounds-checked against this frame's length first.
    const buffer = bytes.buffer;
    if (buffer !== lastBuffer) {
      if (buffer.byteLength > MAX_SHARED_VIEW_BYTES) {
        this.view = new DataView(buffer);
      } else {
        lastBuffer = buffer;
        lastView = new DataView(buffer);
        this.view = lastView;
      }
    } else {
      this.view = lastView!;
    }
    this.base = bytes.byteOffset;
    this.len = bytes.byteLength;
  }

  u32At(pos: number): number {
    return this.view.getUint32(this.base + pos, true);
  }

  private i32At(pos: number): number {
    return this.view.getInt32(this.base + pos, true);
  }

  private u16At(pos: number): number {
    return this.view.getUint16(this.base + pos, true);
  }

  table(pos: number, what: string): Table {
    if (pos < 0 || pos + 4 > this.len) throw new FrameError('truncated', `${what} table outside the frame`);
    const vt = pos - this.i32At(pos);
    if (vt < 0 || vt + 4 > this.len) throw new FrameError('malformed', `${what} vtable outside the frame`);
    const vsize = this.u16At(vt);
    const tsize = this.u16At(vt + 2);
    if (vsize < 4 || (vsize & 1) !== 0 || vt + vsize > this.len) throw new FrameError('malformed', `${what} vtable size ${vsize}`);
    if (tsize < 4 || pos + tsize > this.len) throw new FrameError('malformed', `${what} table size ${tsize}`);
    return { pos, vt, vsize, tsize };
  }

  /** Absolute position of a field of `size` bytes, or 0 if absent. */
  field(t: Table, slot: number, size: number): number {
    const voff = 4 + 2 * slot;
    if (voff + 2 > t.vsize) return 0;
    const off = this.u16At(t.vt + voff);
    if (off === 0) return 0;
    if (off < 4 || off + size > t.tsize) throw new FrameError('malformed', `field ${slot} at ${off} outside its table`);
    return t.pos + off;
  }

  u64(t: Table, slot: number, what: string): number {
    const p = this.field(t, slot, 8);
    if (p === 0) return 0;
    const lo = this.u32At(p);
    const hi = this.u32At(p + 4);
    if (hi > MAX_HI) throw new FrameError('out-of-range', `${what} exceeds 2^53 - 1`);
    return hi * TWO_32 + lo;
  }

  u32(t: Table, slot: number): number {
    const p = this.field(t, slot, 4);
    return p === 0 ? 0 : this.u32At(p);
  }

  u8(t: Table, slot: number): number {
    const p = this.field(t, slot, 1);
    return p === 0 ? 0 : this.bytes[p]!;
  }

  bool(t: Table, slot: number, what: string): boolean {
    const v = this.u8(t, slot);
    if (v > 1) throw new FrameError('out-of-range', `${what} is not a bool (${v})`);
    return v === 1;
  }

  /** Follows a uoffset field; 0 if absent. */
  target(t: Table, slot: number): number {
    const p = this.field(t, slot, 4);
    if (p === 0) return 0;
    const target = p + this.u32At(p);
    if (target + 4 > this.len) throw new FrameError('truncated', `offset field ${slot} points outside the frame`);
    return target;
  }

  /** [start, count] of a vector field; [0, 0] if absent. */
  vector(t: Table, slot: number, elemSize: number, what: string): [number, number] {
    const at = this.target(t, slot);
    if (at === 0) return [0, 0];
    const count = this.u32At(at);
    if (at + 4 + count * elemSize > this.len) throw new FrameError('truncated', `${what} vector runs past the frame`);
    return [at + 4, count];
  }

  bytesField(t: Table, slot: number, what: string): Uint8Array {
    const [start, count] = this.vector(t, slot, 1, what);
    return this.bytes.subarray(start, start + count);
  }

  /**
   * The string at `at`; `known` is what it usually holds (the expected cluster or node id): when
   * the bytes equal its UTF-8, it is returned without decoding (valid UTF-8 by construction).
   */
  stringAt(at: number, what: string, known?: string): string {
    if (at + 4 > this.len) throw new FrameError('truncated', `${what} outside the frame`);
    const count = this.u32At(at);
    if (count > MAX_ID_BYTES) throw new FrameError('out-of-range', `${what} longer than ${MAX_ID_BYTES} bytes`);
    if (at + 4 + count > this.len) throw new FrameError('truncated', `${what} runs past the frame`);
    if (count === 0) return '';
    if (known !== undefined && known.length <= MAX_ID_BYTES && this.holds(at + 4, count, utf8Of(known))) return known;
    try {
      return utf8.decode(this.bytes.subarray(at + 4, at + 4 + count));
    } catch {
      throw new FrameError('invalid-utf8', `${what} is not UTF-8`);
    }
  }

  private holds(at: number, count: number, expected: Uint8Array): boolean {
    if (expected.byteLength !== count) return false;
    const bytes = this.bytes;
    for (let i = 0; i < count; i++) if (bytes[at + i] !== expected[i]) return false;
    return true;
  }

  string(t: Table, slot: number, what: string, required: boolean, known?: string): string {
    const at = this.target(t, slot);
    if (at === 0) {
      if (required) throw new FrameError('missing-field', `${what} is required`);
      return '';
    }
    return this.stringAt(at, what, known);
  }

  stringList(t: Table, slot: number, what: string): string[] {
    const [start, count] = this.vector(t, slot, 4, what);
    const out = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const p = start + 4 * i;
      out[i] = this.stringAt(p + this.u32At(p), what);
    }
    return out;
  }

  subtable(t: Table, slot: number, what: string): Table | undefined {
    const at = this.target(t, slot);
    return at === 0 ? undefined : this.table(at, what);
  }
}

function decodeEntries(r: Reader, t: Table, prevIndex: number): Entry[] {
  const [termsAt, count] = r.vector(t, 4, 8, 'entry_terms');
  const [typesAt, typesCount] = r.vector(t, 5, 1, 'entry_types');
  const [endsAt, endsCount] = r.vector(t, 6, 4, 'entry_ends');
  const [payloadAt, payloadLength] = r.vector(t, 7, 1, 'payloads');
  if (typesCount !== count || endsCount !== count) throw new FrameError('inconsistent', `${count} terms, ${typesCount} types, ${endsCount} ends`);
  if (prevIndex + count > Number.MAX_SAFE_INTEGER) throw new FrameError('out-of-range', 'entry index exceeds 2^53 - 1');
  const bytes = r.bytes;
  const entries = new Array<Entry>(count);
  // A view built from the ArrayBuffer costs about half of subarray() (no species lookup).
  const buffer = bytes.buffer;
  const payloadBase = bytes.byteOffset + payloadAt;
  let start = 0;
  for (let i = 0; i < count; i++) {
    const hi = r.u32At(termsAt + 8 * i + 4);
    if (hi > MAX_HI) throw new FrameError('out-of-range', 'entry term exceeds 2^53 - 1');
    const term = hi * TWO_32 + r.u32At(termsAt + 8 * i);
    const type = bytes[typesAt + i]!;
    if (type > 2) throw new FrameError('out-of-range', `unknown entry type ${type}`);
    const end = r.u32At(endsAt + 4 * i);
    if (end < start || end > payloadLength) throw new FrameError('inconsistent', `entry ${i} ends at ${end}`);
    entries[i] = new LogEntry(prevIndex + 1 + i, term, type as EntryType, new Uint8Array(buffer, payloadBase + start, end - start));
    start = end;
  }
  if (start !== payloadLength) throw new FrameError('inconsistent', `payloads hold ${payloadLength} bytes, entries ${start}`);
  return entries;
}

function decodeConfig(r: Reader, t: Table | undefined): ConfigState {
  if (t === undefined) return { voters: [], learners: [], outgoingVoters: [] };
  const config = { voters: r.stringList(t, 0, 'voters'), learners: r.stringList(t, 1, 'learners'), outgoingVoters: r.stringList(t, 2, 'outgoing_voters') };
  const autoPromote = r.stringList(t, 3, 'auto_promote');
  return autoPromote.length > 0 ? { ...config, autoPromote } : config;
}

function decodeMeta(r: Reader, t: Table | undefined): SnapshotMeta {
  if (t === undefined) throw new FrameError('missing-field', 'snapshot meta is required');
  return { index: r.u64(t, 0, 'meta.index'), term: r.u64(t, 1, 'meta.term'), config: decodeConfig(r, r.subtable(t, 2, 'config')) };
}

function decodeMessage(r: Reader, type: number, t: Table, from: NodeId, to: NodeId): Message {
  const term = r.u64(t, 0, 'term');
  switch (type) {
    case MessageType.Vote:
    case MessageType.PreVote:
      return { type, from, to, term, lastLogIndex: r.u64(t, 1, 'lastLogIndex'), lastLogTerm: r.u64(t, 2, 'lastLogTerm'), transfer: r.bool(t, 3, 'transfer') };
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      return { type, from, to, term, reject: r.bool(t, 1, 'reject') };
    case MessageType.Append: {
      const prevIndex = r.u64(t, 1, 'prevIndex');
      return { type, from, to, term, prevIndex, prevTerm: r.u64(t, 2, 'prevTerm'), commit: r.u64(t, 3, 'commit'), entries: decodeEntries(r, t, prevIndex) };
    }
    case MessageType.AppendResponse:
      return { type, from, to, term, index: r.u64(t, 1, 'index'), reject: r.bool(t, 2, 'reject'), hintIndex: r.u64(t, 3, 'hintIndex'), hintTerm: r.u64(t, 4, 'hintTerm') };
    case MessageType.Heartbeat:
      return { type, from, to, term, commit: r.u64(t, 1, 'commit'), context: r.u64(t, 2, 'context') };
    case MessageType.HeartbeatResponse:
      return { type, from, to, term, context: r.u64(t, 1, 'context') };
    case MessageType.Snapshot:
      return {
        type,
        from,
        to,
        term,
        meta: decodeMeta(r, r.subtable(t, 1, 'meta')),
        offset: r.u64(t, 2, 'offset'),
        data: r.bytesField(t, 3, 'data'),
        done: r.bool(t, 4, 'done'),
        checksum: r.u32(t, 5),
      };
    case MessageType.SnapshotResponse:
      return { type, from, to, term, index: r.u64(t, 1, 'index'), nextOffset: r.u64(t, 2, 'nextOffset'), reject: r.bool(t, 3, 'reject') };
    case MessageType.TimeoutNow:
      return { type, from, to, term };
    case MessageType.ReadIndex:
      return { type, from, to, term, requestId: r.u64(t, 1, 'requestId') };
    case MessageType.ReadIndexResponse:
      return { type, from, to, term, requestId: r.u64(t, 1, 'requestId'), index: r.u64(t, 2, 'index'), reject: r.bool(t, 3, 'reject') };
    case MessageType.Propose:
      return { type, from, to, term, requestId: r.u64(t, 1, 'requestId'), data: r.bytesField(t, 2, 'data') };
    case MessageType.ProposeResponse: {
      const error = r.u8(t, 2);
      if (error > 5) throw new FrameError('out-of-range', `unknown propose error ${error}`);
      return {
        type,
        from,
        to,
        term,
        requestId: r.u64(t, 1, 'requestId'),
        error: error as ProposeResponseError,
        index: r.u64(t, 3, 'index'),
        entryTerm: r.u64(t, 4, 'entryTerm'),
        leaderHint: r.string(t, 5, 'leaderHint', false),
        result: r.bytesField(t, 6, 'result'),
      };
    }
    default:
      throw new FrameError('unknown-message-type', `message type ${type}`);
  }
}

type ProposeResponseError = Extract<Message, { type: typeof MessageType.ProposeResponse }>['error'];

export interface DecodeExpectations {
  readonly clusterId?: string;
  /** The local node: the frame's `to` must equal it. */
  readonly to?: NodeId;
  /** The authenticated peer of the connection: the frame's `from` must equal it. */
  readonly from?: NodeId;
  readonly maxFrameBytes?: number;
}

/**
 * Decodes and validates one frame. Throws FrameError (never anything else) on any defect.
 * The messages' byte fields are views into `bytes`: keep `bytes` alive and unmodified for as long
 * as they are used.
 */
export function decodeFrame(bytes: Uint8Array, expect: DecodeExpectations = {}): DecodedFrame {
  try {
    return decodeUnchecked(bytes, expect);
  } catch (error) {
    if (error instanceof FrameError) throw error;
    // Defensive: a DataView RangeError would mean a missed bounds check.
    throw new FrameError('malformed', error instanceof Error ? error.message : String(error));
  }
}

function decodeUnchecked(bytes: Uint8Array, expect: DecodeExpectations): DecodedFrame {
  if (expect.maxFrameBytes !== undefined && bytes.byteLength > expect.maxFrameBytes) {
    throw new FrameError('oversized', `${bytes.byteLength} bytes exceeds the ${expect.maxFrameBytes}-byte limit`);
  }
  if (bytes.byteLength < 8) throw new FrameError('truncated', `${bytes.byteLength} bytes`);
  if (bytes[4] !== 0x46 || bytes[5] !== 0x4c || bytes[6] !== 0x54 || bytes[7] !== 0x31) {
    throw new FrameError('bad-identifier', 'not a FLT1 frame');
  }
  const r = new Reader(bytes);
  const root = r.table(r.u32At(0), 'frame');
  const clusterId = r.string(root, 0, 'cluster_id', true, expect.clusterId);
  if (expect.clusterId !== undefined && clusterId !== expect.clusterId) throw new FrameError('wrong-cluster', `frame for cluster ${JSON.stringify(clusterId)}`);
  const from = r.string(root, 1, 'from', true, expect.from);
  const to = r.string(root, 2, 'to', true, expect.to);
  if (expect.to !== undefined && to !== expect.to) throw new FrameError('wrong-recipient', `frame for node ${JSON.stringify(to)}`);
  if (expect.from !== undefined && from !== expect.from) throw new FrameError('wrong-sender', `frame from ${JSON.stringify(from)} on the connection of ${JSON.stringify(expect.from)}`);
  if (r.target(root, 3) === 0) throw new FrameError('missing-field', 'messages is required');
  const [start, count] = r.vector(root, 3, 4, 'messages');
  const messages = new Array<Message>(count);
  for (let i = 0; i < count; i++) {
    const p = start + 4 * i;
    const m = r.table(p + r.u32At(p), 'message');
    const type = r.u8(m, 0);
    if (type === 0) throw new FrameError('missing-field', 'message body is required');
    if (type > 15) throw new FrameError('unknown-message-type', `message type ${type}`);
    const body = r.subtable(m, 1, 'message body');
    if (body === undefined) throw new FrameError('missing-field', 'message body is required');
    messages[i] = decodeMessage(r, type, body, from, to);
  }
  return { clusterId, from, to, messages };
}

/** Encodes frames with one reusable writer (its output is valid until the next `encode`). */
export class FrameEncoder {
  private readonly writer: FrameWriter;

  constructor(initialBytes = 64 * 1024) {
    this.writer = new FrameWriter(initialBytes);
  }

  encode(clusterId: string, from: NodeId, to: NodeId, messages: readonly Message[]): Uint8Array {
    return encodeFrame(clusterId, from, to, messages, this.writer);
  }
}

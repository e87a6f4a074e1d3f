/**
 * Frame encoding and decoding (schema/frame.fbs).
 *
 * Encoding goes through the flatc-generated builders, except for the Append entry vectors, which
 * are written straight into the builder's buffer (one copy per payload, no per-entry table, no
 * BigInt per entry). Decoding does not use the generated accessors: the TypeScript FlatBuffers
 * runtime has no verifier, so a bounds-checked reader walks the frame once, validates every field
 * and builds core's Message objects. Entry, snapshot, proposal and result bytes are views
 * into the decoded buffer (zero copy).
 */
import * as flatbuffers from 'flatbuffers';
import { EntryType, MessageType } from '@flotilla/core';
import type { ConfigState, Entry, Message, NodeId, SnapshotMeta } from '@flotilla/core';
import {
  Append,
  AppendResponse,
  ConfigState as WireConfigState,
  Frame,
  Heartbeat,
  HeartbeatResponse,
  Message as WireMessage,
  PreVote,
  PreVoteResponse,
  Propose,
  ProposeResponse,
  ReadIndex,
  ReadIndexResponse,
  Snapshot,
  SnapshotMeta as WireSnapshotMeta,
  SnapshotResponse,
  TimeoutNow,
  Vote,
  VoteResponse,
} from './generated/frame_generated.js';

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

/** The parts of flatbuffers.Builder (25.x) the raw vector writers use. */
interface RawBuilder {
  bb: flatbuffers.ByteBuffer;
  space: number;
}

const TWO_32 = 0x1_0000_0000;

function u64(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a safe non-negative integer, got ${value}`);
  return BigInt(value);
}

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_32) throw new RangeError(`${what} must be a uint32, got ${value}`);
  return value;
}

/** Writes a [ulong] vector without a BigInt per element. */
function createUint64Vector(builder: flatbuffers.Builder, count: number, valueAt: (i: number) => number): flatbuffers.Offset {
  builder.startVector(8, count, 8);
  const raw = builder as unknown as RawBuilder;
  for (let i = count - 1; i >= 0; i--) {
    const value = valueAt(i);
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`entry term must be a safe non-negative integer, got ${value}`);
    raw.space -= 8;
    raw.bb.writeInt32(raw.space, value % TWO_32 | 0);
    raw.bb.writeInt32(raw.space + 4, Math.floor(value / TWO_32) | 0);
  }
  return builder.endVector();
}

function encodeEntries(builder: flatbuffers.Builder, entries: readonly Entry[], prevIndex: number): [flatbuffers.Offset, flatbuffers.Offset, flatbuffers.Offset, flatbuffers.Offset] {
  const count = entries.length;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const entry = entries[i]!;
    if (entry.index !== prevIndex + 1 + i) throw new RangeError(`entry ${i} has index ${entry.index}, expected ${prevIndex + 1 + i}`);
    total += entry.data.byteLength;
  }
  if (total >= TWO_32) throw new RangeError('entry payloads exceed 4 GiB');
  const raw = builder as unknown as RawBuilder;
  // payloads: one concatenation, copied straight into the builder.
  builder.startVector(1, total, 1);
  raw.space -= total;
  const bytes = raw.bb.bytes();
  let at = raw.space;
  for (let i = 0; i < count; i++) {
    const data = entries[i]!.data;
    bytes.set(data, at);
    at += data.byteLength;
  }
  const payloads = builder.endVector();
  // entry_ends: running end offsets.
  builder.startVector(4, count, 4);
  let end = total;
  for (let i = count - 1; i >= 0; i--) {
    raw.space -= 4;
    raw.bb.writeInt32(raw.space, end | 0);
    end -= entries[i]!.data.byteLength;
  }
  const ends = builder.endVector();
  builder.startVector(1, count, 1);
  for (let i = count - 1; i >= 0; i--) {
    const type = entries[i]!.type;
    if (type !== EntryType.Normal && type !== EntryType.Noop && type !== EntryType.Config) throw new RangeError(`unknown entry type ${type}`);
    raw.space -= 1;
    raw.bb.writeUint8(raw.space, type);
  }
  const types = builder.endVector();
  const terms = createUint64Vector(builder, count, (i) => entries[i]!.term);
  return [terms, types, ends, payloads];
}

// UTF-8 of recent ids: the builder would otherwise run TextEncoder (a fresh ArrayBuffer) for
// each of a frame's three ids, and small ArrayBuffers are costly to allocate and collect.
const utf8Cache = new Map<string, Uint8Array>();
const textEncoder = new TextEncoder();

function utf8Of(value: string): Uint8Array {
  let bytes = utf8Cache.get(value);
  if (bytes === undefined) {
    if (utf8Cache.size >= 1024) utf8Cache.clear();
    bytes = textEncoder.encode(value);
    utf8Cache.set(value, bytes);
  }
  return bytes;
}

function createString(builder: flatbuffers.Builder, value: string): flatbuffers.Offset {
  return builder.createString(value.length <= 64 ? utf8Of(value) : value);
}

function encodeStrings(builder: flatbuffers.Builder, ids: readonly string[]): flatbuffers.Offset[] {
  return ids.map((id) => createString(builder, id));
}

function encodeConfig(builder: flatbuffers.Builder, config: ConfigState): flatbuffers.Offset {
  const voters = WireConfigState.createVotersVector(builder, encodeStrings(builder, config.voters));
  const learners = WireConfigState.createLearnersVector(builder, encodeStrings(builder, config.learners));
  const outgoing = WireConfigState.createOutgoingVotersVector(builder, encodeStrings(builder, config.outgoingVoters));
  const promote = config.autoPromote ?? [];
  // Written only when it names someone: frames without it are exactly what they were before the field.
  const autoPromote = promote.length > 0 ? WireConfigState.createAutoPromoteVector(builder, encodeStrings(builder, promote)) : 0;
  return WireConfigState.createConfigState(builder, voters, learners, outgoing, autoPromote);
}

function encodeBody(builder: flatbuffers.Builder, m: Message): flatbuffers.Offset {
  const term = u64(m.term, 'term');
  switch (m.type) {
    case MessageType.Vote:
      return Vote.createVote(builder, term, u64(m.lastLogIndex, 'lastLogIndex'), u64(m.lastLogTerm, 'lastLogTerm'), m.transfer);
    case MessageType.PreVote:
      return PreVote.createPreVote(builder, term, u64(m.lastLogIndex, 'lastLogIndex'), u64(m.lastLogTerm, 'lastLogTerm'), m.transfer);
    case MessageType.VoteResponse:
      return VoteResponse.createVoteResponse(builder, term, m.reject);
    case MessageType.PreVoteResponse:
      return PreVoteResponse.createPreVoteResponse(builder, term, m.reject);
    case MessageType.Append: {
      const prevIndex = u64(m.prevIndex, 'prevIndex');
      const [terms, types, ends, payloads] = encodeEntries(builder, m.entries, m.prevIndex);
      return Append.createAppend(builder, term, prevIndex, u64(m.prevTerm, 'prevTerm'), u64(m.commit, 'commit'), terms, types, ends, payloads);
    }
    case MessageType.AppendResponse:
      return AppendResponse.createAppendResponse(builder, term, u64(m.index, 'index'), m.reject, u64(m.hintIndex, 'hintIndex'), u64(m.hintTerm, 'hintTerm'));
    case MessageType.Heartbeat:
      return Heartbeat.createHeartbeat(builder, term, u64(m.commit, 'commit'), u64(m.context, 'context'));
    case MessageType.HeartbeatResponse:
      return HeartbeatResponse.createHeartbeatResponse(builder, term, u64(m.context, 'context'));
    case MessageType.Snapshot: {
      const config = encodeConfig(builder, m.meta.config);
      // flatc emits no create helper for tables holding a table field: start/add/end instead.
      WireSnapshotMeta.startSnapshotMeta(builder);
      WireSnapshotMeta.addIndex(builder, u64(m.meta.index, 'meta.index'));
      WireSnapshotMeta.addTerm(builder, u64(m.meta.term, 'meta.term'));
      WireSnapshotMeta.addConfig(builder, config);
      const meta = WireSnapshotMeta.endSnapshotMeta(builder);
      const data = builder.createByteVector(m.data);
      const offset = u64(m.offset, 'offset');
      const checksum = u32(m.checksum, 'checksum');
      Snapshot.startSnapshot(builder);
      Snapshot.addTerm(builder, term);
      Snapshot.addMeta(builder, meta);
      Snapshot.addOffset(builder, offset);
      Snapshot.addData(builder, data);
      Snapshot.addDone(builder, m.done);
      Snapshot.addChecksum(builder, checksum);
      return Snapshot.endSnapshot(builder);
    }
    case MessageType.SnapshotResponse:
      return SnapshotResponse.createSnapshotResponse(builder, term, u64(m.index, 'index'), u64(m.nextOffset, 'nextOffset'), m.reject);
    case MessageType.TimeoutNow:
      return TimeoutNow.createTimeoutNow(builder, term);
    case MessageType.ReadIndex:
      return ReadIndex.createReadIndex(builder, term, u64(m.requestId, 'requestId'));
    case MessageType.ReadIndexResponse:
      return ReadIndexResponse.createReadIndexResponse(builder, term, u64(m.requestId, 'requestId'), u64(m.index, 'index'), m.reject);
    case MessageType.Propose: {
      const data = builder.createByteVector(m.data);
      return Propose.createPropose(builder, term, u64(m.requestId, 'requestId'), data);
    }
    case MessageType.ProposeResponse: {
      const hint = createString(builder, m.leaderHint);
      const result = builder.createByteVector(m.result);
      return ProposeResponse.createProposeResponse(builder, term, u64(m.requestId, 'requestId'), m.error, u64(m.index, 'index'), u64(m.entryTerm, 'entryTerm'), hint, result);
    }
    default:
      throw new RangeError(`unknown message type ${(m as { type: unknown }).type}`);
  }
}

/**
 * Encodes one frame. The returned bytes are a view into `builder`'s buffer, valid until the
 * builder is used again (the transport replaces its builder when a socket kept such a view).
 * Throws RangeError on values that cannot go on the wire (negative, unsafe or fractional numbers).
 */
export function encodeFrame(
  clusterId: string,
  from: NodeId,
  to: NodeId,
  messages: readonly Message[],
  builder: flatbuffers.Builder = new flatbuffers.Builder(1024),
): Uint8Array {
  builder.clear();
  const offsets = new Array<flatbuffers.Offset>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const body = encodeBody(builder, m);
    offsets[i] = WireMessage.createMessage(builder, m.type, body);
  }
  const vector = Frame.createMessagesVector(builder, offsets);
  const frame = Frame.createFrame(builder, createString(builder, clusterId), createString(builder, from), createString(builder, to), vector);
  Frame.finishFrameBuffer(builder, frame);
  return builder.asUint8Array();
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

class Reader {
  readonly view: DataView;
  readonly len: number;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.len = bytes.byteLength;
  }

  table(pos: number, what: string): Table {
    if (pos < 0 || pos + 4 > this.len) throw new FrameError('truncated', `${what} table outside the frame`);
    const vt = pos - this.view.getInt32(pos, true);
    if (vt < 0 || vt + 4 > this.len) throw new FrameError('malformed', `${what} vtable outside the frame`);
    const vsize = this.view.getUint16(vt, true);
    const tsize = this.view.getUint16(vt + 2, true);
    if (vsize < 4 || (vsize & 1) !== 0 || vt + vsize > this.len) throw new FrameError('malformed', `${what} vtable size ${vsize}`);
    if (tsize < 4 || pos + tsize > this.len) throw new FrameError('malformed', `${what} table size ${tsize}`);
    return { pos, vt, vsize, tsize };
  }

  /** Absolute position of a field of `size` bytes, or 0 if absent. */
  field(t: Table, slot: number, size: number): number {
    const voff = 4 + 2 * slot;
    if (voff + 2 > t.vsize) return 0;
    const off = this.view.getUint16(t.vt + voff, true);
    if (off === 0) return 0;
    if (off < 4 || off + size > t.tsize) throw new FrameError('malformed', `field ${slot} at ${off} outside its table`);
    return t.pos + off;
  }

  u64(t: Table, slot: number, what: string): number {
    const p = this.field(t, slot, 8);
    if (p === 0) return 0;
    const lo = this.view.getUint32(p, true);
    const hi = this.view.getUint32(p + 4, true);
    if (hi > MAX_HI) throw new FrameError('out-of-range', `${what} exceeds 2^53 - 1`);
    return hi * TWO_32 + lo;
  }

  u32(t: Table, slot: number): number {
    const p = this.field(t, slot, 4);
    return p === 0 ? 0 : this.view.getUint32(p, true);
  }

  u8(t: Table, slot: number): number {
    const p = this.field(t, slot, 1);
    return p === 0 ? 0 : this.view.getUint8(p);
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
    const target = p + this.view.getUint32(p, true);
    if (target + 4 > this.len) throw new FrameError('truncated', `offset field ${slot} points outside the frame`);
    return target;
  }

  /** [start, count] of a vector field; [0, 0] if absent. */
  vector(t: Table, slot: number, elemSize: number, what: string): [number, number] {
    const at = this.target(t, slot);
    if (at === 0) return [0, 0];
    const count = this.view.getUint32(at, true);
    if (at + 4 + count * elemSize > this.len) throw new FrameError('truncated', `${what} vector runs past the frame`);
    return [at + 4, count];
  }

  bytesField(t: Table, slot: number, what: string): Uint8Array {
    const [start, count] = this.vector(t, slot, 1, what);
    return this.bytes.subarray(start, start + count);
  }

  stringAt(at: number, what: string): string {
    if (at + 4 > this.len) throw new FrameError('truncated', `${what} outside the frame`);
    const count = this.view.getUint32(at, true);
    if (count > MAX_ID_BYTES) throw new FrameError('out-of-range', `${what} longer than ${MAX_ID_BYTES} bytes`);
    if (at + 4 + count > this.len) throw new FrameError('truncated', `${what} runs past the frame`);
    try {
      return utf8.decode(this.bytes.subarray(at + 4, at + 4 + count));
    } catch {
      throw new FrameError('invalid-utf8', `${what} is not UTF-8`);
    }
  }

  string(t: Table, slot: number, what: string, required: boolean): string {
    const at = this.target(t, slot);
    if (at === 0) {
      if (required) throw new FrameError('missing-field', `${what} is required`);
      return '';
    }
    return this.stringAt(at, what);
  }

  stringList(t: Table, slot: number, what: string): string[] {
    const [start, count] = this.vector(t, slot, 4, what);
    const out = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const p = start + 4 * i;
      out[i] = this.stringAt(p + this.view.getUint32(p, true), what);
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
  const view = r.view;
  const bytes = r.bytes;
  const entries = new Array<Entry>(count);
  // A view built from the ArrayBuffer costs about half of subarray() (no species lookup).
  const buffer = bytes.buffer;
  const payloadBase = bytes.byteOffset + payloadAt;
  let start = 0;
  for (let i = 0; i < count; i++) {
    const hi = view.getUint32(termsAt + 8 * i + 4, true);
    if (hi > MAX_HI) throw new FrameError('out-of-range', 'entry term exceeds 2^53 - 1');
    const term = hi * TWO_32 + view.getUint32(termsAt + 8 * i, true);
    const type = bytes[typesAt + i]!;
    if (type > 2) throw new FrameError('out-of-range', `unknown entry type ${type}`);
    const end = view.getUint32(endsAt + 4 * i, true);
    if (end < start || end > payloadLength) throw new FrameError('inconsistent', `entry ${i} ends at ${end}`);
    entries[i] = { index: prevIndex + 1 + i, term, type: type as EntryType, data: new Uint8Array(buffer, payloadBase + start, end - start) };
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
  const root = r.table(r.view.getUint32(0, true), 'frame');
  const clusterId = r.string(root, 0, 'cluster_id', true);
  if (expect.clusterId !== undefined && clusterId !== expect.clusterId) throw new FrameError('wrong-cluster', `frame for cluster ${JSON.stringify(clusterId)}`);
  const from = r.string(root, 1, 'from', true);
  const to = r.string(root, 2, 'to', true);
  if (expect.to !== undefined && to !== expect.to) throw new FrameError('wrong-recipient', `frame for node ${JSON.stringify(to)}`);
  if (expect.from !== undefined && from !== expect.from) throw new FrameError('wrong-sender', `frame from ${JSON.stringify(from)} on the connection of ${JSON.stringify(expect.from)}`);
  if (r.target(root, 3) === 0) throw new FrameError('missing-field', 'messages is required');
  const [start, count] = r.vector(root, 3, 4, 'messages');
  const messages = new Array<Message>(count);
  for (let i = 0; i < count; i++) {
    const p = start + 4 * i;
    const m = r.table(p + r.view.getUint32(p, true), 'message');
    const type = r.u8(m, 0);
    if (type === 0) throw new FrameError('missing-field', 'message body is required');
    if (type > 15) throw new FrameError('unknown-message-type', `message type ${type}`);
    const body = r.subtable(m, 1, 'message body');
    if (body === undefined) throw new FrameError('missing-field', 'message body is required');
    messages[i] = decodeMessage(r, type, body, from, to);
  }
  return { clusterId, from, to, messages };
}

/** Encodes frames with one reusable builder (its output is valid until the next `encode`). */
export class FrameEncoder {
  private readonly builder: flatbuffers.Builder;

  constructor(initialBytes = 64 * 1024) {
    this.builder = new flatbuffers.Builder(initialBytes);
  }

  encode(clusterId: string, from: NodeId, to: NodeId, messages: readonly Message[]): Uint8Array {
    return encodeFrame(clusterId, from, to, messages, this.builder);
  }
}

/**
 * Reads a frame through flatc's generated code only, into core's message shapes: the tests use it
 * to check that what FrameWriter writes is what schema/frame.fbs says, field by field.
 */
import * as flatbuffers from 'flatbuffers';
import { MessageType } from '@flotilla/core';
import {
  Append,
  AppendResponse,
  type ConfigState,
  Frame,
  Heartbeat,
  HeartbeatResponse,
  PreVote,
  PreVoteResponse,
  Propose,
  ProposeResponse,
  ReadIndex,
  ReadIndexResponse,
  Snapshot,
  SnapshotResponse,
  TimeoutNow,
  Vote,
  VoteResponse,
} from '../src/generated/frame_generated.js';

const n = (value: bigint): number => Number(value);

function list(length: number, at: (i: number) => string): string[] {
  return Array.from({ length }, (_, i) => at(i));
}

function config(c: ConfigState | null): Record<string, unknown> {
  if (c === null) return { voters: [], learners: [], outgoingVoters: [] };
  const out: Record<string, unknown> = {
    voters: list(c.votersLength(), (i) => c.voters(i)),
    learners: list(c.learnersLength(), (i) => c.learners(i)),
    outgoingVoters: list(c.outgoingVotersLength(), (i) => c.outgoingVoters(i)),
  };
  if (c.autoPromoteLength() > 0) out.autoPromote = list(c.autoPromoteLength(), (i) => c.autoPromote(i));
  return out;
}

export interface GeneratedFrame {
  readonly clusterId: string | null;
  readonly from: string | null;
  readonly to: string | null;
  readonly messages: Record<string, unknown>[];
}

export function readWithGenerated(bytes: Uint8Array): GeneratedFrame {
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!Frame.bufferHasIdentifier(bb)) throw new Error('no FLT1 identifier');
  const frame = Frame.getRootAsFrame(bb);
  const from = frame.from();
  const to = frame.to();
  const messages: Record<string, unknown>[] = [];
  for (let i = 0; i < frame.messagesLength(); i++) {
    const m = frame.messages(i)!;
    const type = m.bodyType() as number;
    const env = { type, from, to };
    switch (type) {
      case MessageType.Vote:
      case MessageType.PreVote: {
        const b = m.body(type === MessageType.Vote ? new Vote() : new PreVote()) as Vote;
        messages.push({ ...env, term: n(b.term()), lastLogIndex: n(b.lastLogIndex()), lastLogTerm: n(b.lastLogTerm()), transfer: b.transfer() });
        break;
      }
      case MessageType.VoteResponse:
      case MessageType.PreVoteResponse: {
        const b = m.body(type === MessageType.VoteResponse ? new VoteResponse() : new PreVoteResponse()) as VoteResponse;
        messages.push({ ...env, term: n(b.term()), reject: b.reject() });
        break;
      }
      case MessageType.Append: {
        const b = m.body(new Append()) as Append;
        const prevIndex = n(b.prevIndex());
        const payloads = b.payloadsArray() ?? new Uint8Array(0);
        const entries = [];
        let start = 0;
        for (let e = 0; e < b.entryTermsLength(); e++) {
          const end = b.entryEnds(e)!;
          entries.push({ index: prevIndex + 1 + e, term: n(b.entryTerms(e)!), type: b.entryTypes(e), data: payloads.subarray(start, end) });
          start = end;
        }
        messages.push({ ...env, term: n(b.term()), prevIndex, prevTerm: n(b.prevTerm()), commit: n(b.commit()), entries });
        break;
      }
      case MessageType.AppendResponse: {
        const b = m.body(new AppendResponse()) as AppendResponse;
        messages.push({ ...env, term: n(b.term()), index: n(b.index()), reject: b.reject(), hintIndex: n(b.hintIndex()), hintTerm: n(b.hintTerm()) });
        break;
      }
      case MessageType.Heartbeat: {
        const b = m.body(new Heartbeat()) as Heartbeat;
        messages.push({ ...env, term: n(b.term()), commit: n(b.commit()), context: n(b.context()) });
        break;
      }
      case MessageType.HeartbeatResponse: {
        const b = m.body(new HeartbeatResponse()) as HeartbeatResponse;
        messages.push({ ...env, term: n(b.term()), context: n(b.context()) });
        break;
      }
      case MessageType.Snapshot: {
        const b = m.body(new Snapshot()) as Snapshot;
        const meta = b.meta()!;
        messages.push({
          ...env,
          term: n(b.term()),
          meta: { index: n(meta.index()), term: n(meta.term()), config: config(meta.config()) },
          offset: n(b.offset()),
          data: b.dataArray() ?? new Uint8Array(0),
          done: b.done(),
          checksum: b.checksum(),
        });
        break;
      }
      case MessageType.SnapshotResponse: {
        const b = m.body(new SnapshotResponse()) as SnapshotResponse;
        messages.push({ ...env, term: n(b.term()), index: n(b.index()), nextOffset: n(b.nextOffset()), reject: b.reject() });
        break;
      }
      case MessageType.TimeoutNow: {
        const b = m.body(new TimeoutNow()) as TimeoutNow;
        messages.push({ ...env, term: n(b.term()) });
        break;
      }
      case MessageType.ReadIndex: {
        const b = m.body(new ReadIndex()) as ReadIndex;
        messages.push({ ...env, term: n(b.term()), requestId: n(b.requestId()) });
        break;
      }
      case MessageType.ReadIndexResponse: {
        const b = m.body(new ReadIndexResponse()) as ReadIndexResponse;
        messages.push({ ...env, term: n(b.term()), requestId: n(b.requestId()), index: n(b.index()), reject: b.reject() });
        break;
      }
      case MessageType.Propose: {
        const b = m.body(new Propose()) as Propose;
        messages.push({ ...env, term: n(b.term()), requestId: n(b.requestId()), data: b.dataArray() ?? new Uint8Array(0) });
        break;
      }
      case MessageType.ProposeResponse: {
        const b = m.body(new ProposeResponse()) as ProposeResponse;
        messages.push({
          ...env,
          term: n(b.term()),
          requestId: n(b.requestId()),
          error: b.error(),
          index: n(b.index()),
          entryTerm: n(b.entryTerm()),
          leaderHint: b.leaderHint() ?? '',
          result: b.resultArray() ?? new Uint8Array(0),
        });
        break;
      }
      default:
        throw new Error(`unknown body type ${type}`);
    }
  }
  return { clusterId: frame.clusterId(), from, to, messages };
}

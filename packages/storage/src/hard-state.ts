import { EMPTY_HARD_STATE, type HardState } from '@flotilla/core';

/** Upper bound on the vote (a node id) in UTF-8 bytes, so a hard state always fits its slot. */
export const MAX_VOTE_BYTES = 256;

/** [u8 version=1][u64 term][u64 commit][u16 vote length][vote UTF-8] */
export function encodeHardState(hs: HardState): Buffer {
  const vote = Buffer.from(hs.vote, 'utf8');
  const buf = Buffer.allocUnsafe(19 + vote.length);
  buf[0] = 1;
  writeU64(buf, 1, hs.term);
  writeU64(buf, 9, hs.commit);
  buf.writeUInt16LE(vote.length, 17);
  vote.copy(buf, 19);
  return buf;
}

export function decodeHardState(buf: Buffer): HardState {
  if (buf.length === 0) return EMPTY_HARD_STATE;
  if (buf[0] !== 1 || buf.length < 19) throw new Error('unknown hard-state encoding');
  const voteLength = buf.readUInt16LE(17);
  return { term: readU64(buf, 1), commit: readU64(buf, 9), vote: buf.toString('utf8', 19, 19 + voteLength) };
}

export function writeU64(buf: Buffer, offset: number, value: number): void {
  const lo = value % 0x100000000;
  buf.writeUInt32LE(lo, offset);
  buf.writeUInt32LE((value - lo) / 0x100000000, offset + 4);
}

export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * 0x100000000;
}

/**
 * KV commands as log entries: [op u8][key length u32][key][value...] where a nullable value is
 * [u8 present][u32 length][bytes]. Decoding validates everything: a malformed entry is applied as
 * a no-op with an error result, never a crash (every node rejects it identically).
 */
export const Op = { Put: 1, Delete: 2, Cas: 3, Member: 4, Forget: 5 } as const;

/**
 * Put, Delete and Cas act on the map. Member and Forget act on the member address registry (the
 * key is the member's id): Member records a member's Raft and HTTP addresses, Forget drops them
 * once the member's removal has committed.
 */
export type KvCommand =
  | { readonly op: typeof Op.Put; readonly key: string; readonly value: Uint8Array }
  | { readonly op: typeof Op.Delete; readonly key: string }
  | { readonly op: typeof Op.Cas; readonly key: string; readonly expect: Uint8Array | null; readonly value: Uint8Array | null }
  | { readonly op: typeof Op.Member; readonly key: string; readonly raftAddress: string; readonly httpAddress: string }
  | { readonly op: typeof Op.Forget; readonly key: string };

function nullableSize(value: Uint8Array | null): number {
  return value === null ? 1 : 5 + value.byteLength;
}

function writeBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  out.writeUInt32LE(bytes.byteLength, at);
  out.set(bytes, at + 4);
  return at + 4 + bytes.byteLength;
}

function writeNullable(out: Buffer, at: number, bytes: Uint8Array | null): number {
  out[at] = bytes === null ? 0 : 1;
  return bytes === null ? at + 1 : writeBytes(out, at + 1, bytes);
}

export function encodeCommand(command: KvCommand): Buffer {
  const keyBytes = Buffer.byteLength(command.key, 'utf8');
  let size = 5 + keyBytes;
  if (command.op === Op.Put) size += 4 + command.value.byteLength;
  if (command.op === Op.Cas) size += nullableSize(command.expect) + nullableSize(command.value);
  if (command.op === Op.Member) size += 8 + Buffer.byteLength(command.raftAddress, 'utf8') + Buffer.byteLength(command.httpAddress, 'utf8');
  const out = Buffer.allocUnsafe(size);
  out[0] = command.op;
  out.writeUInt32LE(keyBytes, 1);
  out.write(command.key, 5, 'utf8');
  let at = 5 + keyBytes;
  if (command.op === Op.Put) writeBytes(out, at, command.value);
  if (command.op === Op.Cas) {
    at = writeNullable(out, at, command.expect);
    writeNullable(out, at, command.value);
  }
  if (command.op === Op.Member) {
    at = writeBytes(out, at, Buffer.from(command.raftAddress, 'utf8'));
    writeBytes(out, at, Buffer.from(command.httpAddress, 'utf8'));
  }
  return out;
}

/** Reads a command's fields in order, checking every length (no closures: this runs per entry). */
class Reader {
  at = 0;
  constructor(readonly buf: Buffer) {}

  need(n: number): void {
    if (this.at + n > this.buf.byteLength) throw new RangeError(`truncated command (needs ${this.at + n} bytes, has ${this.buf.byteLength})`);
  }

  byte(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  bytes(): Buffer {
    this.need(4);
    const length = this.buf.readUInt32LE(this.at);
    this.at += 4;
    this.need(length);
    const bytes = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return bytes;
  }

  nullable(): Buffer | null {
    const present = this.byte();
    if (present === 0) return null;
    if (present !== 1) throw new RangeError(`bad presence flag ${present}`);
    return this.bytes();
  }
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const r = new Reader(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const op = r.byte();
  const key = r.bytes().toString('utf8');
  let command: KvCommand;
  if (op === Op.Put) command = { op, key, value: r.bytes() };
  else if (op === Op.Delete) command = { op, key };
  else if (op === Op.Cas) command = { op, key, expect: r.nullable(), value: r.nullable() };
  else if (op === Op.Member) command = { op, key, raftAddress: r.bytes().toString('utf8'), httpAddress: r.bytes().toString('utf8') };
  else if (op === Op.Forget) command = { op, key };
  else throw new RangeError(`unknown op ${op}`);
  if (r.at !== r.buf.byteLength) throw new RangeError(`${r.buf.byteLength - r.at} trailing bytes`);
  return command;
}

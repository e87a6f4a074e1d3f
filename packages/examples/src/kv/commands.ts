/**
 * KV commands as log entries: [op u8][key length u32][key][value...] where a nullable value is
 * [u8 present][u32 length][bytes]. Decoding validates everything: a malformed entry is applied as
 * a no-op with an error result, never a crash (every node rejects it identically).
 */
export const Op = { Put: 1, Delete: 2, Cas: 3 } as const;

export type KvCommand =
  | { readonly op: typeof Op.Put; readonly key: string; readonly value: Uint8Array }
  | { readonly op: typeof Op.Delete; readonly key: string }
  | { readonly op: typeof Op.Cas; readonly key: string; readonly expect: Uint8Array | null; readonly value: Uint8Array | null };

function nullableSize(value: Uint8Array | null): number {
  return value === null ? 1 : 5 + value.byteLength;
}

export function encodeCommand(command: KvCommand): Buffer {
  const key = Buffer.from(command.key, 'utf8');
  let size = 5 + key.byteLength;
  if (command.op === Op.Put) size += 4 + command.value.byteLength;
  if (command.op === Op.Cas) size += nullableSize(command.expect) + nullableSize(command.value);
  const out = Buffer.allocUnsafe(size);
  out[0] = command.op;
  out.writeUInt32LE(key.byteLength, 1);
  key.copy(out, 5);
  let at = 5 + key.byteLength;
  const writeBytes = (bytes: Uint8Array): void => {
    out.writeUInt32LE(bytes.byteLength, at);
    out.set(bytes, at + 4);
    at += 4 + bytes.byteLength;
  };
  const writeNullable = (bytes: Uint8Array | null): void => {
    out[at++] = bytes === null ? 0 : 1;
    if (bytes !== null) writeBytes(bytes);
  };
  if (command.op === Op.Put) writeBytes(command.value);
  if (command.op === Op.Cas) {
    writeNullable(command.expect);
    writeNullable(command.value);
  }
  return out;
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const need = (n: number): void => {
    if (at + n > buf.byteLength) throw new RangeError(`truncated command (needs ${at + n} bytes, has ${buf.byteLength})`);
  };
  const readBytes = (): Uint8Array => {
    need(4);
    const length = buf.readUInt32LE(at);
    at += 4;
    need(length);
    const bytes = buf.subarray(at, at + length);
    at += length;
    return bytes;
  };
  const readNullable = (): Uint8Array | null => {
    need(1);
    const present = buf[at++];
    if (present === 0) return null;
    if (present !== 1) throw new RangeError(`bad presence flag ${present}`);
    return readBytes();
  };
  need(1);
  const op = buf[at++];
  const key = Buffer.from(readBytes()).toString('utf8');
  let command: KvCommand;
  if (op === Op.Put) command = { op, key, value: readBytes() };
  else if (op === Op.Delete) command = { op, key };
  else if (op === Op.Cas) command = { op, key, expect: readNullable(), value: readNullable() };
  else throw new RangeError(`unknown op ${op}`);
  if (at !== buf.byteLength) throw new RangeError(`${buf.byteLength - at} trailing bytes`);
  return command;
}

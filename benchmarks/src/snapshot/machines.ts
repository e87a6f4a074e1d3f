/** The state machines of the snapshot benchmark. */
import type { Command, StateMachine } from '@flotilla/core';
import { native } from '@flotilla/storage';

/** Bytes per generated snapshot chunk (the core's default snapshotChunkBytes). */
export const GENERATED_CHUNK_BYTES = 1024 * 1024;

/** What a restore saw: its length and its CRC32C. */
export interface StreamDigest {
  bytes: number;
  crc: number;
}

/**
 * A state of `size` bytes that exists only as a generator: snapshot() yields it in 1 MiB chunks,
 * each made when asked for (never the whole in memory), recording the CRC32C of what it yielded;
 * restore() consumes the stream with a running CRC32C and length, and fails unless it got exactly
 * `size` bytes. Commands are only counted.
 */
export class GeneratedStateMachine implements StateMachine<number> {
  applied = 0;
  /** Of the last snapshot() stream, once it was read to the end. */
  generated: StreamDigest | undefined;
  /** Of the last restore(). */
  restored: StreamDigest | undefined;

  constructor(readonly size: number) {}

  apply(commands: readonly Command[]): number[] {
    return commands.map(() => ++this.applied);
  }

  *snapshot(): Iterable<Uint8Array> {
    let crc = 0;
    for (let offset = 0; offset < this.size; offset += GENERATED_CHUNK_BYTES) {
      const chunk = Buffer.allocUnsafe(Math.min(GENERATED_CHUNK_BYTES, this.size - offset));
      // Different in every chunk, so a chunk delivered twice or out of order changes the CRC.
      chunk.fill((offset / GENERATED_CHUNK_BYTES) % 251);
      chunk.writeUInt32LE(offset / GENERATED_CHUNK_BYTES, 0);
      crc = native.crc32c(chunk, crc);
      yield chunk;
    }
    this.generated = { bytes: this.size, crc };
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    let bytes = 0;
    let crc = 0;
    for await (const chunk of chunks) {
      crc = native.crc32c(chunk, crc);
      bytes += chunk.byteLength;
    }
    if (bytes !== this.size) throw new Error(`restored ${bytes} bytes, expected ${this.size}`);
    this.restored = { bytes, crc };
  }
}

const ARENA_BYTES = 16 * 1024 * 1024;

/**
 * Keeps every command it applied, appended to 16 MiB arenas (a state as large as the commands, like
 * a store of distinct keys). A snapshot is an 8-byte count then the arenas' bytes; the arenas only
 * grow, so the views snapshot() captures stay valid while applies continue.
 */
export class ArenaStateMachine implements StateMachine<number> {
  private arenas: Buffer[] = [];
  private used = 0;
  count = 0;

  apply(commands: readonly Command[]): number[] {
    const results: number[] = new Array<number>(commands.length);
    for (let i = 0; i < commands.length; i++) {
      this.append(commands[i]!.data);
      results[i] = ++this.count;
    }
    return results;
  }

  private append(data: Uint8Array): void {
    let from = 0;
    while (from < data.byteLength) {
      const at = this.used % ARENA_BYTES;
      if (at === 0 && this.arenas.length * ARENA_BYTES === this.used) this.arenas.push(Buffer.allocUnsafe(ARENA_BYTES));
      const arena = this.arenas[Math.floor(this.used / ARENA_BYTES)]!;
      const n = Math.min(data.byteLength - from, ARENA_BYTES - at);
      arena.set(data.subarray(from, from + n), at);
      from += n;
      this.used += n;
    }
  }

  /** Bytes a snapshot taken now would have. */
  get snapshotBytes(): number {
    return 8 + this.used;
  }

  *snapshot(): Iterable<Uint8Array> {
    const used = this.used;
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(BigInt(this.count));
    const arenas = this.arenas.slice();
    yield header;
    for (let offset = 0; offset < used; offset += GENERATED_CHUNK_BYTES) {
      const arena = arenas[Math.floor(offset / ARENA_BYTES)]!;
      const at = offset % ARENA_BYTES;
      yield arena.subarray(at, at + Math.min(GENERATED_CHUNK_BYTES, used - offset));
    }
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.arenas = [];
    this.used = 0;
    this.count = 0;
    const header = Buffer.alloc(8);
    let headerBytes = 0;
    for await (const chunk of chunks) {
      let data = chunk;
      if (headerBytes < 8) {
        const n = Math.min(8 - headerBytes, data.byteLength);
        header.set(data.subarray(0, n), headerBytes);
        headerBytes += n;
        data = data.subarray(n);
      }
      this.append(data);
    }
    if (headerBytes < 8) throw new Error('snapshot shorter than its header');
    this.count = Number(header.readBigUInt64LE(0));
  }

  /** The count and the CRC32C of every command applied, in order. */
  digest(): { count: number; bytes: number; crc: number } {
    let crc = 0;
    for (let offset = 0; offset < this.used; offset += ARENA_BYTES) {
      crc = native.crc32c(this.arenas[offset / ARENA_BYTES]!.subarray(0, Math.min(ARENA_BYTES, this.used - offset)), crc);
    }
    return { count: this.count, bytes: this.used, crc };
  }
}

/** The `i`-th fill command: `bytes` bytes, distinct per index. */
export function fillCommand(i: number, bytes: number, into: Buffer): Buffer {
  into.fill(i % 253);
  into.writeUInt32LE(i >>> 0, 0);
  return into;
}

import { ClosedError, FlotillaError } from '../errors.js';
import type { SnapshotReader, SnapshotStore, SnapshotWriter } from '../storage.js';
import type { SnapshotMeta } from '../types.js';
import { crc32c } from './crc32c.js';

interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
  readonly checksum: number;
}

/**
 * Snapshots held in memory, lost with the process: pair it with MemoryStorage. A node on durable
 * storage needs a durable snapshot store (FileSnapshotStore), or a restart finds its log compacted
 * with nothing to restore from.
 */
export class MemorySnapshotStore implements SnapshotStore {
  private current: StoredSnapshot | undefined;

  latest(): SnapshotMeta | undefined {
    return this.current?.meta;
  }

  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    const chunks: Uint8Array[] = [];
    let crc = 0;
    let size = 0;
    let done = false;
    return {
      write: async (chunk) => {
        if (done) throw new ClosedError('the snapshot writer is finished');
        if (!(chunk instanceof Uint8Array)) throw new TypeError('chunk must be a Uint8Array');
        chunks.push(chunk.slice());
        crc = crc32c(chunk, crc);
        size += chunk.byteLength;
      },
      commit: async (checksum) => {
        if (done) throw new ClosedError('the snapshot writer is finished');
        done = true;
        if (checksum !== undefined && checksum !== crc) {
          throw new FlotillaError('CORRUPT_SNAPSHOT', `snapshot ${meta.index}: checksum ${checksum} does not match the data (${crc})`);
        }
        const data = new Uint8Array(size);
        let at = 0;
        for (const chunk of chunks) {
          data.set(chunk, at);
          at += chunk.byteLength;
        }
        if (!this.current || meta.index >= this.current.meta.index) this.current = { meta, data, checksum: crc };
      },
      abort: async () => {
        done = true;
      },
    };
  }

  async open(): Promise<SnapshotReader | undefined> {
    const snapshot = this.current;
    if (!snapshot) return undefined;
    return {
      meta: snapshot.meta,
      size: snapshot.data.byteLength,
      checksum: snapshot.checksum,
      read: async (offset, length) => {
        if (!Number.isSafeInteger(offset) || offset < 0 || offset > snapshot.data.byteLength) {
          throw new RangeError(`offset ${offset} outside 0..${snapshot.data.byteLength}`);
        }
        return snapshot.data.subarray(offset, Math.min(snapshot.data.byteLength, offset + length));
      },
      close: async () => undefined,
    };
  }

  /** Replaces the stored bytes (tests: corrupt a snapshot on purpose). */
  tamper(mutate: (data: Uint8Array) => void): void {
    if (this.current) mutate(this.current.data);
  }
}

import { open as openFile, mkdir, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ClosedError, type SnapshotMeta, type SnapshotReader, type SnapshotStore, type SnapshotWriter } from '@flotilla/core';
import { CorruptSnapshotError } from './errors.js';
import { readU64, writeU64 } from './hard-state.js';
import { native } from './native.js';

/**
 * Snapshot file: [8 magic "FLTSNAP1"][u32 meta length][meta JSON][data][trailer 24 bytes:
 * u64 data size, u32 CRC32C of data, u32 CRC32C of magic+length+meta, 8 bytes "FLTSNEND"].
 */
const MAGIC = Buffer.from('FLTSNAP1');
const END = Buffer.from('FLTSNEND');
const TRAILER = 24;
const MAX_META_BYTES = 1024 * 1024;

/**
 * Tuning and test seams of FileSnapshotStore: not part of the documented API (FileStorage opens
 * its store with the defaults).
 * @internal
 */
export interface SnapshotStoreOptions {
  /** A snapshot being written starts a background datasync every this many bytes. Default 8 MiB; Infinity turns it off. */
  readonly backgroundSyncBytes?: number;
  /** How a background flush is done. Default `fh.datasync()`; tests count calls and inject failures. */
  readonly datasync?: (fh: FileHandle) => Promise<void>;
}

type WriterOptions = Required<SnapshotStoreOptions>;

const DEFAULTS: WriterOptions = {
  backgroundSyncBytes: 8 * 1024 * 1024,
  datasync: (fh) => fh.datasync(),
};

function checkOptions(options: unknown): WriterOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { backgroundSyncBytes = DEFAULTS.backgroundSyncBytes, datasync = DEFAULTS.datasync } = options as Record<string, unknown>;
  if (typeof backgroundSyncBytes !== 'number') throw new TypeError('backgroundSyncBytes must be a number');
  if (backgroundSyncBytes !== Infinity && (!Number.isSafeInteger(backgroundSyncBytes) || backgroundSyncBytes < 1))
    throw new RangeError('backgroundSyncBytes must be a positive safe integer or Infinity');
  if (typeof datasync !== 'function') throw new TypeError('datasync must be a function');
  return { backgroundSyncBytes, datasync: datasync as WriterOptions['datasync'] };
}

function fileName(meta: SnapshotMeta): string {
  return `${String(meta.index).padStart(20, '0')}-${meta.term}.snap`;
}

function checkMeta(meta: unknown): SnapshotMeta {
  if (typeof meta !== 'object' || meta === null) throw new TypeError('meta must be a SnapshotMeta');
  const m = meta as Record<string, unknown>;
  for (const key of ['index', 'term'] as const) {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`meta.${key} must be a non-negative safe integer`);
  }
  const config = m.config as Record<string, unknown> | undefined;
  if (typeof config !== 'object' || config === null) throw new TypeError('meta.config must be a ConfigState');
  for (const key of ['voters', 'learners', 'outgoingVoters'] as const) {
    const list = config[key];
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new TypeError(`meta.config.${key} must be an array of strings`);
  }
  const promote = config.autoPromote;
  if (promote !== undefined && (!Array.isArray(promote) || !promote.every((x) => typeof x === 'string'))) throw new TypeError('meta.config.autoPromote must be an array of strings');
  return meta as SnapshotMeta;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await openFile(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

interface Parsed {
  readonly meta: SnapshotMeta;
  readonly dataOffset: number;
  readonly size: number;
  readonly checksum: number;
}

async function parse(fh: FileHandle, file: string): Promise<Parsed> {
  const { size: fileSize } = await fh.stat();
  if (fileSize < MAGIC.length + 4 + TRAILER) throw new CorruptSnapshotError(file, 'file too short');
  const head = Buffer.alloc(12);
  await fh.read(head, 0, 12, 0);
  if (!head.subarray(0, 8).equals(MAGIC)) throw new CorruptSnapshotError(file, 'bad magic');
  const metaLength = head.readUInt32LE(8);
  if (metaLength > MAX_META_BYTES || 12 + metaLength + TRAILER > fileSize) throw new CorruptSnapshotError(file, 'bad meta length');
  const header = Buffer.alloc(12 + metaLength);
  await fh.read(header, 0, header.length, 0);
  const trailer = Buffer.alloc(TRAILER);
  await fh.read(trailer, 0, TRAILER, fileSize - TRAILER);
  if (!trailer.subarray(16).equals(END)) throw new CorruptSnapshotError(file, 'bad trailer');
  if (trailer.readUInt32LE(12) !== native.crc32c(header)) throw new CorruptSnapshotError(file, 'header checksum mismatch');
  const size = readU64(trailer, 0);
  if (12 + metaLength + size + TRAILER !== fileSize) throw new CorruptSnapshotError(file, 'size does not match the file');
  const meta = checkMeta(JSON.parse(header.toString('utf8', 12)));
  return { meta, dataOffset: 12 + metaLength, size, checksum: trailer.readUInt32LE(8) };
}

/**
 * Snapshots in a directory: written under a temporary name, fsynced, renamed into place and the
 * directory fsynced; only the latest is kept. Read back in chunks for streaming to a follower.
 */
export class FileSnapshotStore implements SnapshotStore {
  readonly dir: string;
  private current: { meta: SnapshotMeta; file: string } | undefined;
  private counter = 0;
  private readonly options: WriterOptions;

  private constructor(dir: string, options: WriterOptions) {
    this.dir = dir;
    this.options = options;
  }

  /** `options` is internal (see SnapshotStoreOptions). */
  static async open(dir: string, options: SnapshotStoreOptions = {}): Promise<FileSnapshotStore> {
    const opts = checkOptions(options);
    await mkdir(dir, { recursive: true });
    const store = new FileSnapshotStore(dir, opts);
    const names = (await readdir(dir)).sort();
    for (const name of names) if (name.endsWith('.tmp')) await unlink(join(dir, name)).catch(() => undefined);
    const snaps = names.filter((n) => n.endsWith('.snap')).reverse();
    for (const name of snaps) {
      const file = join(dir, name);
      const fh = await openFile(file, 'r');
      try {
        const parsed = await parse(fh, file);
        store.current = { meta: parsed.meta, file };
        break;
      } catch (error) {
        if (!(error instanceof CorruptSnapshotError)) throw error;
        // A damaged snapshot is skipped in favour of an older one; it is never served.
      } finally {
        await fh.close();
      }
    }
    return store;
  }

  latest(): SnapshotMeta | undefined {
    return this.current?.meta;
  }

  async create(meta: SnapshotMeta): Promise<SnapshotWriter> {
    checkMeta(meta);
    const json = Buffer.from(JSON.stringify({ index: meta.index, term: meta.term, config: meta.config }), 'utf8');
    if (json.length > MAX_META_BYTES) throw new RangeError('snapshot meta is too large');
    const header = Buffer.alloc(12 + json.length);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(json.length, 8);
    json.copy(header, 12);
    const final = join(this.dir, fileName(meta));
    const temp = `${final}.${process.pid}.${++this.counter}.tmp`;
    const fh = await openFile(temp, 'w');
    await fh.write(header, 0, header.length, 0);
    return new Writer(this, meta, fh, temp, final, header, this.options);
  }

  async open(): Promise<SnapshotReader | undefined> {
    const cur = this.current;
    if (!cur) return undefined;
    const fh = await openFile(cur.file, 'r');
    try {
      const parsed = await parse(fh, cur.file);
      return new Reader(fh, parsed);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }

  /** @internal */
  async installed(meta: SnapshotMeta, file: string): Promise<void> {
    const previous = this.current;
    if (previous && meta.index < previous.meta.index) {
      // Committed after a newer one (two writers open at once): superseded already, never served.
      if (file !== previous.file) await unlink(file).catch(() => undefined);
      return;
    }
    this.current = { meta, file };
    if (previous && previous.file !== file) {
      // Readers that have the old file open keep reading it (POSIX unlink semantics).
      await unlink(previous.file).catch(() => undefined);
    }
  }
}

class Writer implements SnapshotWriter {
  private offset: number;
  private size = 0;
  private crc = 0;
  private done = false;
  /** commit() has begun: the data ends here, later writes and commits are refused. */
  private closing = false;
  private chain: Promise<void> = Promise.resolve();
  /** Bytes written since the last background flush was started. */
  private unsynced = 0;
  /** The background flush in flight, if any (at most one). */
  private syncing: Promise<void> | undefined;
  /**
   * The first failed write or background flush: every later write and the commit reject with it
   * (a chunk that failed is already counted in size and checksum, so committing would leave a hole).
   */
  private failure: { readonly error: unknown } | undefined;

  constructor(
    private readonly store: FileSnapshotStore,
    private readonly meta: SnapshotMeta,
    private readonly fh: FileHandle,
    private readonly temp: string,
    private readonly final: string,
    private readonly header: Buffer,
    private readonly options: WriterOptions,
  ) {
    this.offset = header.length;
  }

  write(chunk: Uint8Array): Promise<void> {
    if (!(chunk instanceof Uint8Array)) return Promise.reject(new TypeError('chunk must be a Uint8Array'));
    if (this.done || this.closing) return Promise.reject(new ClosedError('the snapshot writer is finished'));
    const run = async (): Promise<void> => {
      if (this.failure) throw this.failure.error;
      const at = this.offset;
      this.offset += chunk.byteLength;
      this.size += chunk.byteLength;
      this.crc = native.crc32c(chunk, this.crc);
      let written = 0;
      try {
        while (written < chunk.byteLength) {
          const { bytesWritten } = await this.fh.write(chunk, written, chunk.byteLength - written, at + written);
          written += bytesWritten;
        }
      } catch (error) {
        this.failure ??= { error };
        throw error;
      }
      this.unsynced += chunk.byteLength;
      if (this.unsynced >= this.options.backgroundSyncBytes && this.syncing === undefined) this.startBackgroundSync();
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * Flushes what was written so far while the stream goes on; write() does not wait for it.
   * Otherwise the kernel keeps the whole snapshot dirty in the page cache and the final fsync
   * writes all of it after the last chunk: receiving and writing to disk take turns instead of
   * overlapping.
   */
  private startBackgroundSync(): void {
    this.unsynced = 0;
    this.syncing = Promise.resolve(this.fh)
      .then((fh) => this.options.datasync(fh))
      .then(
        () => {
          this.syncing = undefined;
        },
        (error: unknown) => {
          this.failure ??= { error };
          this.syncing = undefined;
        },
      );
  }

  async commit(checksum?: number): Promise<void> {
    if (this.done || this.closing) throw new ClosedError('the snapshot writer is finished');
    if (checksum !== undefined && (typeof checksum !== 'number' || !Number.isInteger(checksum) || checksum < 0 || checksum > 0xffffffff))
      throw new TypeError('checksum must be a uint32');
    this.closing = true;
    await this.chain;
    await this.syncing;
    if (this.failure) {
      await this.discard();
      throw this.failure.error;
    }
    if (checksum !== undefined && checksum !== this.crc) {
      await this.discard();
      throw new CorruptSnapshotError(this.temp, `checksum ${checksum} does not match the data written (${this.crc})`);
    }
    this.done = true;
    try {
      const trailer = Buffer.alloc(TRAILER);
      writeU64(trailer, 0, this.size);
      trailer.writeUInt32LE(this.crc, 8);
      trailer.writeUInt32LE(native.crc32c(this.header), 12);
      END.copy(trailer, 16);
      await this.fh.write(trailer, 0, TRAILER, this.offset);
      await this.fh.sync();
      await this.fh.close();
      await rename(this.temp, this.final);
      await syncDir(this.store.dir);
    } catch (error) {
      await unlink(this.temp).catch(() => undefined);
      throw error;
    }
    await this.store.installed(this.meta, this.final);
  }

  /** Drops the snapshot being written; nothing once commit() has begun (it finishes or cleans up itself). */
  async abort(): Promise<void> {
    if (this.closing) return;
    await this.discard();
  }

  private async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.chain;
    await this.syncing; // never rejects: a failure is kept in `failure`
    await this.fh.close().catch(() => undefined);
    await unlink(this.temp).catch(() => undefined);
  }
}

class Reader implements SnapshotReader {
  readonly meta: SnapshotMeta;
  readonly size: number;
  readonly checksum: number;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    private readonly parsed: Parsed,
  ) {
    this.meta = parsed.meta;
    this.size = parsed.size;
    this.checksum = parsed.checksum;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new ClosedError('the snapshot reader is closed');
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.size) throw new RangeError(`offset ${offset} outside 0..${this.size}`);
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be a non-negative integer');
    const n = Math.min(length, this.size - offset);
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, this.parsed.dataOffset + offset + got);
      if (bytesRead === 0) throw new CorruptSnapshotError('snapshot', 'file shorter than recorded');
      got += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

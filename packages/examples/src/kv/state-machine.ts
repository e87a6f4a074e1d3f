import * as crypto from 'node:crypto';
import type { Command, StateMachine } from '@flotilla/core';
import { decodeCommand, Op } from './commands.js';
import { DIGEST_BYTES, DigestHistory } from './digest-history.js';

function bytesToString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** What applying a KV command returned. */
export type KvResult = { readonly deleted?: boolean; readonly ok?: boolean; readonly error?: string };

/** A member's addresses, as recorded in the replicated registry. */
export interface MemberAddresses {
  readonly raftAddress: string;
  readonly httpAddress: string;
}

/** A change of the registry: addresses recorded (or changed), or a member forgotten (`addresses` undefined). */
export type RegistryListener = (id: string, addresses: MemberAddresses | undefined) => void;

/**
 * A frozen view of the map for one snapshot: the value each key had when the snapshot was taken,
 * for every key changed since (undefined: the key did not exist then).
 */
interface View {
  readonly before: Map<string, string | undefined>;
  /** When the snapshot last pulled a chunk: a view nobody reads any more is dropped. */
  touched: number;
  expired: boolean;
  release(): void;
}

/** A snapshot view not read from for this long is dropped (its stream then fails). */
const VIEW_IDLE_MS = 120_000;

// Snapshot format: MAGIC, then records [type u8]...; chunks never need to align with records.
//   HEADER  [u32 length][JSON {appliedIndex, rolling, members, entries}]
//   DIGESTS [u32 count] then count × [f64 index][32 bytes digest]
//   ENTRY   [u32 key length][key utf8][u32 value length][value bytes]
//   END     [u32 entry count]
const MAGIC = Buffer.from('FLKVSNP1', 'latin1');
const REC_HEADER = 1;
const REC_DIGESTS = 2;
const REC_ENTRY = 3;
const REC_END = 4;
const CHUNK_BYTES = 256 * 1024;
/** Digests kept for comparing nodes at a common index (digestAt). */
const HISTORY_DIGESTS = 100_000;

/** Parses a snapshot stream incrementally; throws on anything malformed. */
class SnapshotParser {
  private buf: Buffer = Buffer.alloc(0);
  private at = 0;
  private sawMagic = false;
  header: { appliedIndex: number; rolling: string; members: [string, MemberAddresses][]; entries: number } | undefined;
  readonly history = new DigestHistory(HISTORY_DIGESTS);
  readonly data = new Map<string, string | undefined>();
  ended = false;

  push(chunk: Uint8Array): void {
    if (this.ended) {
      if (chunk.byteLength > 0) throw new Error('bytes after the end of the snapshot');
      return;
    }
    const rest = this.buf.subarray(this.at);
    this.buf = rest.byteLength === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([rest, chunk]);
    this.at = 0;
    this.parse();
  }

  private available(n: number): boolean {
    return this.at + n <= this.buf.byteLength;
  }

  private parse(): void {
    if (!this.sawMagic) {
      if (!this.available(MAGIC.byteLength)) return;
      if (!this.buf.subarray(0, MAGIC.byteLength).equals(MAGIC)) throw new Error('not a KV snapshot (bad magic)');
      this.at = MAGIC.byteLength;
      this.sawMagic = true;
    }
    for (;;) {
      if (this.ended) {
        if (this.at !== this.buf.byteLength) throw new Error('bytes after the end of the snapshot');
        return;
      }
      if (!this.available(1)) return;
      const type = this.buf[this.at]!;
      const start = this.at;
      this.at++;
      if (!this.record(type)) {
        this.at = start; // incomplete: wait for more bytes
        return;
      }
    }
  }

  /** Parses one record after its type byte; false if it is not complete yet. */
  private record(type: number): boolean {
    const b = this.buf;
    switch (type) {
      case REC_HEADER: {
        if (this.header) throw new Error('two headers');
        if (!this.available(4)) return false;
        const length = b.readUInt32LE(this.at);
        if (!this.available(4 + length)) return false;
        const parsed = JSON.parse(b.toString('utf8', this.at + 4, this.at + 4 + length)) as SnapshotParser['header'];
        if (
          !parsed || !Number.isSafeInteger(parsed.appliedIndex) || parsed.appliedIndex < 0 || typeof parsed.rolling !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.rolling) ||
          !Array.isArray(parsed.members) || !Number.isSafeInteger(parsed.entries)
        ) throw new Error('bad snapshot header');
        for (const m of parsed.members) {
          if (!Array.isArray(m) || typeof m[0] !== 'string' || typeof m[1]?.raftAddress !== 'string' || typeof m[1]?.httpAddress !== 'string') throw new Error('bad member in the snapshot header');
        }
        this.header = parsed;
        this.at += 4 + length;
        return true;
      }
      case REC_DIGESTS: {
        if (!this.header) throw new Error('digests before the header');
        if (!this.available(4)) return false;
        const count = b.readUInt32LE(this.at);
        if (!this.available(4 + count * 40)) return false;
        let p = this.at + 4;
        try {
          for (let i = 0; i < count; i++, p += 40) this.history.push(b.readDoubleLE(p), b.subarray(p + 8, p + 40));
        } catch (error) {
          // The history refuses an index that is not a positive integer above the one before it.
          throw new Error(`digests out of order in the snapshot: ${(error as Error).message}`);
        }
        this.at = p;
        return true;
      }
      case REC_ENTRY: {
        if (!this.header) throw new Error('an entry before the header');
        if (!this.available(4)) return false;
        const keyLength = b.readUInt32LE(this.at);
        if (!this.available(8 + keyLength)) return false;
        const valueLength = b.readUInt32LE(this.at + 4 + keyLength);
        if (!this.available(8 + keyLength + valueLength)) return false;
        const key = b.toString('utf8', this.at + 4, this.at + 4 + keyLength);
        const v = this.at + 8 + keyLength;
        if (this.data.has(key)) throw new Error(`key ${JSON.stringify(key)} twice in the snapshot`);
        this.data.set(key, b.toString('latin1', v, v + valueLength));
        this.at = v + valueLength;
        return true;
      }
      case REC_END: {
        if (!this.header) throw new Error('the end before the header');
        if (!this.available(4)) return false;
        const count = b.readUInt32LE(this.at);
        if (count !== this.data.size || count !== this.header.entries) throw new Error(`the snapshot ends after ${this.data.size} entries, its end says ${count}, its header ${this.header.entries}`);
        this.at += 4;
        this.ended = true;
        return true;
      }
      default:
        throw new Error(`unknown record type ${type} at offset ${this.at - 1}`);
    }
  }
}

/** sha256(previous digest ‖ decimal index ‖ command): the digest chain every node computes. */
export function chainDigest(previous: Uint8Array, index: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(DIGEST_BYTES);
  chainDigestInto(previous, index, data, out);
  return out;
}

/**
 * chainDigest written into `out` (which may be `previous`): no Buffer per entry. One-shot hashing
 * of one buffer (Node >= 20.12) costs about half of a Hash object fed three times, and this runs
 * once per applied entry on every node; its 'binary' (latin1) result is a short string, cheaper
 * to allocate than a Buffer. Large commands are hashed in place instead: copying them would cost
 * more than it saves, and the scratch buffer stays bounded.
 */
export function chainDigestInto(previous: Uint8Array, index: number, data: Uint8Array, out: Buffer): void {
  const need = previous.byteLength + MAX_INDEX_DIGITS + data.byteLength;
  if (oneShotHash === undefined || need > DIGEST_SCRATCH_BYTES) {
    crypto.createHash('sha256').update(previous).update(String(index), 'latin1').update(data).digest().copy(out, 0);
    return;
  }
  digestScratch.set(previous, 0);
  const digits = digestScratch.write(String(index), previous.byteLength, 'latin1');
  digestScratch.set(data, previous.byteLength + digits);
  const digest = oneShotHash('sha256', digestScratch.subarray(0, previous.byteLength + digits + data.byteLength), 'binary');
  out.write(digest, 0, 'latin1');
}

const oneShotHash = typeof (crypto as { hash?: unknown }).hash === 'function' ? crypto.hash : undefined;
const MAX_INDEX_DIGITS = 16; // indices are safe integers: at most 16 decimal digits
const DIGEST_SCRATCH_BYTES = 16 * 1024;
const digestScratch = Buffer.allocUnsafe(DIGEST_SCRATCH_BYTES);

/**
 * The replicated map. Values are kept as latin1 strings of the bytes that were written: one byte
 * per character, exactly the bytes, and much smaller and cheaper for the garbage collector than a
 * typed array (and its backing store) per value.
 *
 * Snapshots are copy-on-write: `snapshot()` only registers a view; while a view is open, the first
 * change of each key records the key's previous value in the view, and deletes leave a tombstone
 * (an undefined value) so that the map's iteration order stays put. The view's generator walks
 * the live map and substitutes recorded values: applies go on while the snapshot is written.
 */
export class KvStateMachine implements StateMachine<KvResult> {
  /** key → value; undefined is a tombstone, only while a snapshot view is open. */
  private data = new Map<string, string | undefined>();
  private tombstones = new Set<string>();
  private views = new Set<View>();
  /** The member address registry, replicated through the log (Member and Forget commands). */
  private members = new Map<string, MemberAddresses>();
  private readonly listeners = new Set<RegistryListener>();
  appliedIndex = 0;
  /** Running digest of everything applied (index and command): nodes agree iff digests agree. Updated in place. */
  private rolling: Buffer = Buffer.alloc(DIGEST_BYTES);
  /** Recent (index, digest) pairs, so nodes can be compared at a common index. Bounded. */
  private history = new DigestHistory(HISTORY_DIGESTS);

  apply(commands: readonly Command[]): KvResult[] {
    if (this.views.size > 0) this.expireIdleViews();
    const results = new Array<KvResult>(commands.length);
    for (let i = 0; i < commands.length; i++) {
      const { index, data } = commands[i]!;
      results[i] = this.applyOne(data);
      chainDigestInto(this.rolling, index, data, this.rolling);
      this.appliedIndex = index;
      this.history.push(index, this.rolling);
    }
    return results;
  }

  private applyOne(data: Uint8Array): KvResult {
    let command;
    try {
      command = decodeCommand(data);
    } catch (error) {
      return { error: `malformed command: ${(error as Error).message}` };
    }
    switch (command.op) {
      case Op.Put:
        this.set(command.key, bytesToString(command.value));
        return {};
      case Op.Delete:
        return { deleted: this.remove(command.key) };
      case Op.Cas: {
        const current = this.data.get(command.key);
        const matches = command.expect === null ? current === undefined : current === bytesToString(command.expect);
        if (!matches) return { ok: false };
        if (command.value === null) this.remove(command.key);
        else this.set(command.key, bytesToString(command.value));
        return { ok: true };
      }
      case Op.Member: {
        const addresses = { raftAddress: command.raftAddress, httpAddress: command.httpAddress };
        this.members.set(command.key, addresses);
        this.notify(command.key, addresses);
        return {};
      }
      case Op.Forget: {
        // Notified even if it was never registered: members of the initial configuration are
        // known from the static config only, and their links must go too.
        const known = this.members.delete(command.key);
        this.notify(command.key, undefined);
        return { deleted: known };
      }
    }
  }

  private expireIdleViews(): void {
    const now = Date.now();
    for (const view of this.views) {
      if (now - view.touched > VIEW_IDLE_MS) {
        view.expired = true;
        view.release();
      }
    }
  }

  private set(key: string, value: string): void {
    if (this.views.size > 0) {
      this.remember(key);
      this.tombstones.delete(key);
    }
    this.data.set(key, value);
  }

  /** Deletes a key; true if it held a value. */
  private remove(key: string): boolean {
    if (this.views.size === 0) return this.data.delete(key);
    if (this.data.get(key) === undefined) return false;
    this.remember(key);
    // A tombstone, not a delete: a re-insert would move the key behind an open view's iterator.
    this.data.set(key, undefined);
    this.tombstones.add(key);
    return true;
  }

  private remember(key: string): void {
    for (const view of this.views) if (!view.before.has(key)) view.before.set(key, this.data.get(key));
  }

  private notify(id: string, addresses: MemberAddresses | undefined): void {
    for (const listener of this.listeners) {
      try {
        listener(id, addresses);
      } catch {
        // a listener's failure must not break apply
      }
    }
  }

  /** Called for every change of the member registry (on apply and on restore). */
  onRegistryChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The member address registry: id → addresses. */
  registry(): ReadonlyMap<string, MemberAddresses> {
    return this.members;
  }

  get(key: string): Uint8Array | undefined {
    const value = this.data.get(key);
    return value === undefined ? undefined : Buffer.from(value, 'latin1');
  }

  get size(): number {
    return this.data.size - this.tombstones.size;
  }

  /** Open copy-on-write snapshot views (for tests). */
  get openSnapshots(): number {
    return this.views.size;
  }

  /** The digest after applying `index`, if still remembered. */
  digestAt(index: number): string | undefined {
    return index === 0 ? '0'.repeat(2 * DIGEST_BYTES) : this.history.hexAt(index);
  }

  digest(): { appliedIndex: number; digest: string; keys: number } {
    return { appliedIndex: this.appliedIndex, digest: this.rolling.toString('hex'), keys: this.size };
  }

  /**
   * The whole state as of now (the last applied command), as a stream of chunks. Only the small
   * parts (registry, digests) are copied here; the map is read through a copy-on-write view while
   * applies go on.
   */
  snapshot(): AsyncIterable<Uint8Array> {
    const header = Buffer.from(
      JSON.stringify({ appliedIndex: this.appliedIndex, rolling: this.rolling.toString('hex'), members: [...this.members], entries: this.size }),
      'utf8',
    );
    const digests = this.history.toRecords();
    const data = this.data;
    const views = this.views;
    const view: View = {
      before: new Map(),
      touched: Date.now(),
      expired: false,
      release: () => {
        if (!views.delete(view)) return;
        // The last view closed on the current map: drop its tombstones.
        if (views.size === 0 && views === this.views) {
          for (const key of this.tombstones) if (this.data.get(key) === undefined) this.data.delete(key);
          this.tombstones.clear();
        }
      },
    };
    views.add(view);
    const pulled = (): void => {
      if (view.expired) throw new Error('the snapshot was not read for too long: its view expired');
      view.touched = Date.now();
    };
    return (async function* generate(): AsyncGenerator<Uint8Array> {
      try {
        pulled();
        const start = Buffer.allocUnsafe(MAGIC.byteLength + 5 + header.byteLength);
        MAGIC.copy(start, 0);
        start[MAGIC.byteLength] = REC_HEADER;
        start.writeUInt32LE(header.byteLength, MAGIC.byteLength + 1);
        header.copy(start, MAGIC.byteLength + 5);
        yield start;
        pulled();
        const perChunk = Math.floor(CHUNK_BYTES / 40);
        const total = digests.byteLength / 40;
        for (let i = 0; i < total || i === 0; i += perChunk) {
          const count = Math.min(perChunk, total - i);
          const out = Buffer.allocUnsafe(5 + count * 40);
          out[0] = REC_DIGESTS;
          out.writeUInt32LE(count, 1);
          digests.copy(out, 5, i * 40, (i + count) * 40);
          yield out;
          pulled();
        }
        let parts: Buffer[] = [];
        let bytes = 0;
        let count = 0;
        // Keys are never removed from `data` while this view is open (tombstones instead), so the
        // iterator visits each key once; keys added meanwhile were recorded as absent.
        for (const [key, live] of data) {
          const value = view.before.has(key) ? view.before.get(key) : live;
          if (value === undefined) continue;
          const keyBytes = Buffer.byteLength(key, 'utf8');
          const record = Buffer.allocUnsafe(9 + keyBytes + value.length);
          record[0] = REC_ENTRY;
          record.writeUInt32LE(keyBytes, 1);
          record.write(key, 5, 'utf8');
          record.writeUInt32LE(value.length, 5 + keyBytes);
          record.write(value, 9 + keyBytes, 'latin1');
          parts.push(record);
          bytes += record.byteLength;
          count++;
          if (bytes >= CHUNK_BYTES) {
            yield Buffer.concat(parts, bytes);
            pulled();
            parts = [];
            bytes = 0;
          }
        }
        const end = Buffer.allocUnsafe(5);
        end[0] = REC_END;
        end.writeUInt32LE(count, 1);
        parts.push(end);
        yield Buffer.concat(parts, bytes + 5);
      } finally {
        view.release();
      }
    })();
  }

  /**
   * Replaces the whole state with a snapshot's, once the whole stream parsed; a malformed or
   * truncated stream throws and leaves the state as it was.
   */
  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parser = new SnapshotParser();
    for await (const chunk of chunks) parser.push(chunk);
    if (!parser.header || !parser.ended) throw new Error('the snapshot stream is truncated');
    const header = parser.header;
    const history = parser.history;
    if (header.appliedIndex < history.newestIndex)
      throw new Error(`the snapshot holds a digest at ${history.newestIndex}, past its applied index ${header.appliedIndex}`);
    const rolling = Buffer.from(header.rolling, 'hex');
    if (header.appliedIndex > history.newestIndex) history.push(header.appliedIndex, rolling);
    const previous = this.members;
    // Views opened on the old map keep reading it: it is never changed again.
    this.views = new Set();
    this.tombstones = new Set();
    this.data = parser.data;
    this.appliedIndex = header.appliedIndex;
    this.rolling = rolling;
    this.history = history;
    this.members = new Map(header.members);
    for (const [id, addresses] of this.members) {
      const before = previous.get(id);
      if (!before || before.raftAddress !== addresses.raftAddress || before.httpAddress !== addresses.httpAddress) this.notify(id, addresses);
    }
    for (const id of previous.keys()) if (!this.members.has(id)) this.notify(id, undefined);
  }
}

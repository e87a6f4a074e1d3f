/**
 * A minimal FlatBuffers writer for frames: the same layout rules as the runtime's Builder (the
 * buffer grows downwards from its end; offsets count from the end until the buffer is finished),
 * with uint64 fields written from JavaScript numbers. The runtime's Builder takes a BigInt for
 * every 64-bit field (and its generated helpers parse a BigInt default for each one), which was
 * most of the cost of encoding a small frame. Vtables are not shared between tables: a frame holds
 * a few tables, and a vtable is a few bytes.
 */

const TWO_32 = 0x1_0000_0000;
/** Most fields in one table of the schema (ProposeResponse has 7). */
const MAX_FIELDS = 16;

export class FrameWriter {
  private buf: Uint8Array;
  private view: DataView;
  /** Start of the written bytes: they are buf[space, buf.length). */
  private space: number;
  private minAlign = 1;
  /** Offsets (from the end) of the fields of the table being written; 0 where absent. */
  private readonly fields = new Int32Array(MAX_FIELDS);
  private fieldCount = 0;
  private tableStart = -1;

  constructor(initialBytes = 1024) {
    if (!Number.isSafeInteger(initialBytes) || initialBytes < 64) throw new RangeError(`initialBytes must be an integer >= 64, got ${initialBytes}`);
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
    this.space = initialBytes;
  }

  /** Bytes of memory held (for sizing a replacement). */
  capacity(): number {
    return this.buf.length;
  }

  /** Forgets what was written; the memory is reused. */
  clear(): void {
    this.space = this.buf.length;
    this.minAlign = 1;
    this.tableStart = -1;
  }

  /** The current position, as an offset from the end of the buffer. */
  offset(): number {
    return this.buf.length - this.space;
  }

  /** Pads so that `size` bytes written after `additional` more are aligned to `size`; grows as needed. */
  private prep(size: number, additional: number): void {
    if (size > this.minAlign) this.minAlign = size;
    const alignSize = (~(this.buf.length - this.space + additional) + 1) & (size - 1);
    const needed = alignSize + size + additional;
    if (this.space < needed) this.grow(needed);
    for (let i = 0; i < alignSize; i++) this.buf[--this.space] = 0;
  }

  private grow(needed: number): void {
    const used = this.buf.length - this.space;
    let size = this.buf.length * 2;
    while (size - used < needed) size *= 2;
    if (size > 2 ** 31) throw new RangeError('frame larger than 2 GiB');
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(this.space), size - used);
    this.buf = next;
    this.view = new DataView(next.buffer);
    this.space = size - used;
  }

  private putU16(value: number): void {
    this.space -= 2;
    this.view.setUint16(this.space, value, true);
  }

  private putU32(value: number): void {
    this.space -= 4;
    this.view.setUint32(this.space, value, true);
  }

  private putU64(value: number, what: string): void {
    this.space -= 8;
    this.setU64(this.space, value, what);
  }

  /** Writes a uint64 at `at` in `bytes()` (an element of a vector from startVector). */
  setU64(at: number, value: number, what: string): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a safe non-negative integer, got ${value}`);
    this.view.setUint32(at, value % TWO_32, true);
    this.view.setUint32(at + 4, Math.floor(value / TWO_32), true);
  }

  /** The uoffset to `target` if written at the next 4-byte slot (after prep(4, 0)). */
  private putOffset(target: number): void {
    this.putU32(this.offset() + 4 - target);
  }

  // --- tables ------------------------------------------------------------------------------

  startTable(fieldCount: number): void {
    if (this.tableStart >= 0) throw new Error('FrameWriter: tables cannot nest');
    if (fieldCount > MAX_FIELDS) throw new RangeError(`a table has at most ${MAX_FIELDS} fields`);
    for (let i = 0; i < fieldCount; i++) this.fields[i] = 0;
    this.fieldCount = fieldCount;
    this.tableStart = this.offset();
  }

  /** A ulong field; 0 is the default and is left out, as the runtime's Builder does. */
  u64(slot: number, value: number, what: string): void {
    if (value === 0) return;
    this.prep(8, 0);
    this.putU64(value, what);
    this.fields[slot] = this.offset();
  }

  u32(slot: number, value: number): void {
    if (value === 0) return;
    this.prep(4, 0);
    this.putU32(value);
    this.fields[slot] = this.offset();
  }

  u8(slot: number, value: number): void {
    if (value === 0) return;
    this.prep(1, 0);
    this.buf[--this.space] = value;
    this.fields[slot] = this.offset();
  }

  bool(slot: number, value: boolean): void {
    this.u8(slot, value ? 1 : 0);
  }

  /** A field pointing at a string, vector or table written earlier (0: absent). */
  ref(slot: number, target: number): void {
    if (target === 0) return;
    this.prep(4, 0);
    this.putOffset(target);
    this.fields[slot] = this.offset();
  }

  /** Writes the table's vtable and returns the table's offset. */
  endTable(): number {
    if (this.tableStart < 0) throw new Error('FrameWriter: endTable without startTable');
    this.prep(4, 0);
    this.putU32(0); // soffset to the vtable, patched below
    const table = this.offset();
    let used = this.fieldCount;
    while (used > 0 && this.fields[used - 1] === 0) used--;
    this.prep(2, 2 * (used + 2));
    for (let i = used - 1; i >= 0; i--) {
      const at = this.fields[i]!;
      this.putU16(at === 0 ? 0 : table - at);
    }
    this.putU16(table - this.tableStart);
    this.putU16(2 * (used + 2));
    // The vtable sits just below the table: soffset = table position - vtable position.
    this.view.setInt32(this.buf.length - table, this.offset() - table, true);
    this.tableStart = -1;
    return table;
  }

  // --- vectors and strings -----------------------------------------------------------------

  /**
   * Reserves a vector of `count` elements of `elemSize` bytes (aligned to `align`) and returns the
   * position of its first element in `bytes()`; call endVector(count) once they are written.
   */
  startVector(elemSize: number, count: number, align: number): number {
    const length = elemSize * count;
    this.prep(4, length);
    this.prep(align, length);
    this.space -= length;
    return this.space;
  }

  endVector(count: number): number {
    this.putU32(count);
    return this.offset();
  }

  /** The buffer startVector() positions refer to (valid until the next write). */
  bytes(): Uint8Array {
    return this.buf;
  }

  dataView(): DataView {
    return this.view;
  }

  byteVector(data: Uint8Array): number {
    const at = this.startVector(1, data.byteLength, 1);
    copySmall(data, this.buf, at);
    return this.endVector(data.byteLength);
  }

  /** A string from its UTF-8 bytes (FlatBuffers adds a NUL after them). */
  string(utf8: Uint8Array): number {
    this.prep(4, utf8.byteLength + 1);
    this.buf[--this.space] = 0;
    const n = utf8.byteLength;
    this.space -= n;
    copySmall(utf8, this.buf, this.space);
    return this.endVector(utf8.byteLength);
  }

  /** A vector of offsets to tables or strings written earlier. */
  refVector(targets: readonly number[]): number {
    this.prep(4, 4 * targets.length);
    for (let i = targets.length - 1; i >= 0; i--) this.putOffset(targets[i]!);
    return this.endVector(targets.length);
  }

  /** Writes the root offset and the 4-byte file identifier; returns the finished buffer (a view). */
  finish(root: number, identifier: Uint8Array): Uint8Array {
    this.prep(this.minAlign, 8);
    for (let i = 3; i >= 0; i--) this.buf[--this.space] = identifier[i]!;
    this.prep(4, 0);
    this.putOffset(root);
    // A view built from the ArrayBuffer costs about half of subarray() (no species lookup).
    return new Uint8Array(this.buf.buffer, this.space, this.buf.length - this.space);
  }
}

/** TypedArray.set() has a fixed cost that dominates short copies (ids, small payloads). */
function copySmall(from: Uint8Array, to: Uint8Array, at: number): void {
  const n = from.byteLength;
  if (n > 64) {
    to.set(from, at);
    return;
  }
  for (let i = 0; i < n; i++) to[at + i] = from[i]!;
}

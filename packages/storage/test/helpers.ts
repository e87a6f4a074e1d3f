import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, EntryType } from '@flotilla/core';

export function tempDir(prefix = 'flotilla-storage-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Deterministic payload for (index, term): tests can check every byte after a reopen. */
export function payload(index: number, term: number, size = 100): Uint8Array {
  const out = Buffer.alloc(size);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function entry(index: number, term: number, size = 100, type: EntryType = 0): Entry {
  return { index, term, type, data: payload(index, term, size) };
}

export function range(first: number, last: number, term: number, size = 100): Entry[] {
  const out: Entry[] = [];
  for (let i = first; i <= last; i++) out.push(entry(i, term, size));
  return out;
}

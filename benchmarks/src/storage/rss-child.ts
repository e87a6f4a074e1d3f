// The storage benchmark's RSS workload, in a process of its own: started by `rssBenchmark` with
// Node's default heap settings, as an embedding service runs, rather than the benchmark runner's
// (whose 64 MiB semi-spaces let the young generation alone add about 100 MiB of RSS over a run).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '@flotilla/core';
import { FileStorage, tuneAllocator } from '@flotilla/storage';

export interface RssRun {
  readonly total: number;
  readonly seconds: number;
  readonly rssStart: number;
  /** Peak RSS in each tenth of the run. */
  readonly peakByTenth: number[];
  /** Live JavaScript heap after a full collection at each tenth (heapUsed, bytes). */
  readonly liveByTenth: number[];
  readonly reopenMs: number;
  readonly reopenedEntries: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('rss-child needs --expose-gc');
const total = Number(process.argv[2]);
if (!Number.isSafeInteger(total) || total < 10_000) throw new RangeError(`entries must be an integer >= 10000, got ${process.argv[2]}`);
tuneAllocator();

const batch = 1000;
const inflight = 16;
const tenth = Math.max(batch, Math.floor(total / 10 / batch) * batch);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-rss-'));
const s = await FileStorage.open(dir);
const data = new Uint8Array(128).fill(3);
gc();
const rssStart = process.memoryUsage().rss;
const peakByTenth: number[] = [];
const liveByTenth: number[] = [];
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const started = performance.now();
let next = 1;
const pending: Promise<void>[] = [];
let lastCompact = 0;
while (next <= total) {
  const entries: Entry[] = [];
  for (let k = next; k < next + batch; k++) entries.push({ index: k, term: 1, type: 0, data });
  next += batch;
  pending.push(s.write(undefined, entries));
  if (pending.length >= inflight) await pending.shift();
  if (next - lastCompact > 500_000 && s.lastIndex() > 200_000) {
    lastCompact = next;
    await s.compact(s.lastIndex() - 100_000);
  }
  if ((next - 1) % tenth === 0 && peakByTenth.length < 10) {
    peakByTenth.push(Math.max(peak, process.memoryUsage().rss));
    peak = 0;
    gc();
    liveByTenth.push(process.memoryUsage().heapUsed);
  }
}
await Promise.all(pending);
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
await s.close();
const openStarted = performance.now();
const reopened = await FileStorage.open(dir);
const reopenMs = performance.now() - openStarted;
const reopenedEntries = reopened.lastIndex() - reopened.firstIndex() + 1;
await reopened.close();
rmSync(dir, { recursive: true, force: true });
const run: RssRun = { total, seconds, rssStart, peakByTenth, liveByTenth, reopenMs, reopenedEntries };
process.send!(run);

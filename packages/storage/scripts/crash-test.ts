/**
 * Crash test: a child process appends under load (with the occasional conflicting-suffix rewrite,
 * hard-state update and prefix compaction) and is SIGKILLed at a random moment; the parent reopens
 * the log and checks that every entry the child saw acknowledged is there with the same bytes, that
 * the log has no hole, and that the hard state is one the child wrote. Repeats for --rounds N.
 *
 *   pnpm --filter @flotilla/storage crash-test -- --rounds 20 [--seed 1] [--dir /tmp/x] [--keep]
 *
 * Exits non-zero on any loss or failed check; the last line states rounds run and entries lost.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Entry } from '@flotilla/core';
import { FileStorage } from '@flotilla/storage';

const SEGMENT_BYTES = 1024 * 1024;

function hash(a: number, b: number): number {
  let x = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  x ^= x >>> 15;
  x = Math.imul(x, 0x2c1b3c6d);
  x ^= x >>> 12;
  return x >>> 0;
}

function payload(index: number, term: number): Uint8Array {
  const size = 8 + (hash(index, term) % 250);
  const out = Buffer.alloc(size);
  let x = hash(term, index) || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

class Random {
  private s: number;
  constructor(seed: number) {
    this.s = hash(seed, 0x5eed) || 1;
  }
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

// ---------------------------------------------------------------------------------------------
// Child: append until killed. Protocol on stdout (synchronous for pipes on Linux):
//   R <first> <last> <term>        recovered state
//   I <id> <first> <count> <term> <hs-commit or -1>   write issued
//   A <id>                         write acknowledged (durable)

async function child(dir: string, seed: number, journal: string): Promise<void> {
  const rnd = new Random(seed);
  // Every commit hint goes with its append, so the check below can ask for the last acknowledged one.
  const s = await FileStorage.open(dir, { segmentBytes: SEGMENT_BYTES, commitHintIntervalMs: 0 });
  // The protocol goes to a file with write(2): what the child wrote before SIGKILL is in the page
  // cache and survives it (a pipe's userspace queue would not).
  const fd = openSync(journal, 'w');
  const out = (line: string): void => {
    writeSync(fd, `${line}\n`);
  };
  let last = s.lastIndex();
  let term = Math.max(1, s.term(last) ?? 1, s.initialState().hardState.term);
  out(`R ${s.firstIndex()} ${last} ${term}`);
  process.stdout.write('R\n');
  let id = 0;
  let inflight = 0;
  const maxInflight = 1 + rnd.int(64);
  const issue = (): void => {
    const myId = ++id;
    let first = last + 1;
    if (rnd.next() < 0.02 && last - s.firstIndex() > 10) {
      first = last - rnd.int(8); // replace a suffix in a new term
      term++;
    }
    const count = 1 + rnd.int(24);
    const entries: Entry[] = [];
    for (let i = first; i < first + count; i++) entries.push({ index: i, term, type: 0, data: payload(i, term) });
    const hs = rnd.next() < 0.2 ? { term, vote: `n${term % 5}`, commit: myId } : undefined;
    out(`I ${myId} ${first} ${count} ${term} ${hs ? hs.commit : -1}`);
    last = first + count - 1;
    inflight++;
    s.write(hs, entries).then(
      () => {
        out(`A ${myId}`);
        inflight--;
        pump();
      },
      (error: unknown) => {
        process.stderr.write(`child write failed: ${String(error)}\n`);
        process.exit(3);
      },
    );
  };
  let compacting = false;
  const pump = (): void => {
    while (inflight < maxInflight) issue();
    if (!compacting && s.lastIndex() - s.firstIndex() > 300_000) {
      compacting = true;
      void s.compact(s.lastIndex() - 100_000).then(() => (compacting = false));
    }
  };
  pump();
}

// ---------------------------------------------------------------------------------------------
// Parent

interface Issued {
  id: number;
  first: number;
  count: number;
  term: number;
  hsCommit: number;
}

async function runChild(dir: string, seed: number, killAfterMs: number, duringOpen: boolean): Promise<{ issued: Issued[]; acked: number; recovered: string }> {
  const script = fileURLToPath(import.meta.url);
  const journal = `${dir}.journal`;
  rmSync(journal, { force: true });
  const proc = spawn(process.execPath, ['--import', 'tsx', '--conditions=flotilla-source', script, '--child', dir, String(seed), journal], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const issued: Issued[] = [];
  let acked = 0;
  let recovered = '';
  let timer: NodeJS.Timeout | undefined;
  let stuck = false;
  const watchdog = setTimeout(() => {
    stuck = true;
    proc.kill('SIGKILL');
  }, 30_000);
  // Sometimes the kill lands while the child is still starting or recovering the log.
  if (duringOpen) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
  const lines = createInterface({ input: proc.stdout! });
  lines.on('line', (line) => {
    if (line === 'R' && !timer) timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
  });
  const linesDone = new Promise<void>((resolve) => lines.on('close', resolve));
  const code = await new Promise<number | null>((resolve) => proc.on('close', (c) => resolve(c)));
  await linesDone;
  if (timer) clearTimeout(timer);
  clearTimeout(watchdog);
  if (stuck) throw new Error('the child did not open the log within 30 s');
  if (code !== null) throw new Error(`child exited with ${code} before it was killed`);
  let text = '';
  try {
    text = readFileSync(journal, 'utf8');
  } catch {
    // killed before it created the journal
  }
  const journalLines = text.split('\n');
  journalLines.pop(); // '' after the last newline, or a line cut short by the kill
  for (const line of journalLines) {
    const f = line.split(' ');
    if (f[0] === 'R') {
      recovered = line;
    } else if (f[0] === 'I' && f.length === 6) {
      issued.push({ id: Number(f[1]), first: Number(f[2]), count: Number(f[3]), term: Number(f[4]), hsCommit: Number(f[5]) });
    } else if (f[0] === 'A' && f.length === 2) {
      const n = Number(f[1]);
      if (n !== acked + 1) throw new Error(`acknowledgements out of order: ${n} after ${acked}`);
      acked = n;
    }
  }
  return { issued, acked, recovered };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  if (args[0] === '--child') return child(args[1]!, Number(args[2]), args[3]!);
  const opt = (name: string, dflt: string): string => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
  };
  const rounds = Number(opt('--rounds', '20'));
  const seed = Number(opt('--seed', String(Date.now() % 100000)));
  const root = opt('--dir', '') || mkdtempSync(join(tmpdir(), 'flotilla-crash-'));
  const dir = join(root, 'node');
  const rnd = new Random(seed);
  console.log(`crash test: ${rounds} rounds, seed ${seed}, dir ${dir}`);

  // The log as last verified: index -> term, and the hard-state commit (= write id) bounds.
  let model = new Map<number, number>();
  let modelLast = 0;
  let lost = 0;
  let failures = 0;
  let totalAcked = 0;
  const started = performance.now();
  let roundsRun = 0;
  for (let round = 1; round <= rounds; round++) {
    roundsRun = round;
    const duringOpen = rnd.next() < 0.1;
    const killAfter = duringOpen ? 100 + rnd.int(500) : 50 + rnd.int(900);
    const { issued, acked } = await runChild(dir, seed * 1000 + round, killAfter, duringOpen);
    // Expected after the acknowledged writes; indices touched by unacknowledged ones may differ.
    const expected = new Map(model);
    let lastAcked = modelLast;
    let lastAckedHs = -1;
    let lastAckedHsTerm = 0;
    for (const w of issued.slice(0, acked)) {
      for (let i = w.first; i <= lastAcked; i++) expected.delete(i);
      for (let i = w.first; i < w.first + w.count; i++) expected.set(i, w.term);
      lastAcked = w.first + w.count - 1;
      if (w.hsCommit >= 0) {
        lastAckedHs = w.hsCommit;
        lastAckedHsTerm = w.term;
      }
    }
    const unacked = issued.slice(acked);
    const minUnackedFirst = unacked.reduce((m, w) => Math.min(m, w.first), Infinity);
    // Most hard states keep term and vote and change only the commit index, which is written
    // without a sync; a SIGKILL keeps it all the same (it is in the page cache).
    const hsCandidates = new Set(unacked.filter((w) => w.hsCommit >= 0).map((w) => w.hsCommit));
    const termCandidates = new Set(unacked.filter((w) => w.hsCommit >= 0).map((w) => w.term));
    if (lastAckedHs >= 0) {
      hsCandidates.add(lastAckedHs);
      termCandidates.add(lastAckedHsTerm);
    }

    let s: FileStorage;
    try {
      s = await FileStorage.open(dir, { segmentBytes: SEGMENT_BYTES });
    } catch (error) {
      console.log(`round ${round}: reopen failed: ${String(error)}`);
      failures++;
      break;
    }
    const first = s.firstIndex();
    const last = s.lastIndex();
    let roundLost = 0;
    let bad = 0;
    const next = new Map<number, number>();
    for (let lo = first; lo <= last; ) {
      const batch = s.entries(lo, last + 1, 4 * 1024 * 1024);
      for (const e of batch) {
        if (e.index !== lo || !Buffer.from(e.data).equals(Buffer.from(payload(e.index, e.term)))) {
          if (bad++ < 5) console.log(`  bad entry at ${lo}: index ${e.index} term ${e.term} (${e.data.byteLength} bytes)`);
        }
        next.set(e.index, e.term);
        lo++;
      }
    }
    for (const [i, t] of expected) {
      if (i < first) continue; // compacted
      if (next.get(i) === t) continue;
      if (i >= minUnackedFirst) continue; // replaced or cut by a write that was in flight
      if (roundLost++ < 5) console.log(`  lost ${i}: expected term ${t}, found ${next.get(i)} (log [${first}, ${last}])`);
    }
    const hs = s.initialState().hardState;
    // A commit index is never recovered past the log (a hint for entries that were cut is capped).
    const commitOk = hsCandidates.has(hs.commit) || (hs.commit === last && [...hsCandidates].some((c) => c > last));
    if (lastAckedHs >= 0 && (!commitOk || !termCandidates.has(hs.term) || hs.vote !== `n${hs.term % 5}`)) {
      console.log(
        `  hard state ${JSON.stringify(hs)} is not one written (last acknowledged commit ${lastAckedHs}; ` +
          `${hsCandidates.size} candidates; ${issued.length} issued, ${acked} acknowledged)`,
      );
      bad++;
    }
    await s.close();
    lost += roundLost;
    failures += bad;
    totalAcked += acked;
    console.log(
      `round ${round} (${((performance.now() - started) / 1000).toFixed(1)} s): killed ${killAfter} ms after ${duringOpen ? 'start' : 'opening'}; ${acked}/${issued.length} writes acknowledged; ` +
        `log [${first}, ${last}]; lost ${roundLost}${bad ? `; ${bad} bad entries or hard state` : ''}`,
    );
    model = next;
    modelLast = last;
    if ((roundLost > 0 || bad > 0) && args.includes('--stop')) break;
  }
  if (!opt('--dir', '') && !args.includes('--keep')) rmSync(root, { recursive: true, force: true });
  console.log(`crash test done: ${roundsRun} rounds run, ${totalAcked} writes acknowledged, ${lost} entries lost, ${failures} failed checks`);
  process.exit(lost > 0 || failures > 0 ? 1 : 0);
}

await main();

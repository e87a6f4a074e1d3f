// pnpm jepsen -- [--time S] [--nemesis a,b|all|none] [--seed N] [--workload register|list-append]
//               [--unsafe-reads] [--unsafe-acks] [--consistency linearizable|lease] [--clients N]
//               [--keys N] [--ops-per-key N] [--rate N] [--deadline-ms N] [--overlap N] [--quiet-ms A-B]
//               [--fault-ms A-B] [--cover-each] [--out DIR] [--check FILE]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeViolation, type ListOp, type RegisterOp } from './checker/index.js';
import { AVAILABLE_NEMESES, DEFAULT_TIMING, NEMESES, parseNemeses } from './nemesis.js';
import { summarize } from './report.js';
import { checkHistory, runJepsen, type JepsenReport, type Workload } from './run.js';

const USAGE = `usage: pnpm jepsen -- [options]
  --time S              client phase in seconds (default 60)
  --nemesis LIST        comma-separated, 'all' (default) or 'none': ${NEMESES.join(', ')}
  --seed N              fixes the nemesis schedule and every client's operations (default: random)
  --workload W          register (default) or list-append
  --consistency C       reads: linearizable (default) or lease
  --unsafe-reads        UNSAFE test switch: linearizable reads served from local state
  --unsafe-acks         UNSAFE test switch: writes acknowledged before they commit
  --clients N           concurrent clients (default 8)
  --keys N              keys in use at a time (default 4)
  --ops-per-key N       operations before a key is retired (default 120)
  --rate N              operations per second over all clients (default 200)
  --deadline-ms N       client deadline of every request (default 3000)
  --overlap N           independent fault schedules at once (default 1); 2 or more overlap faults
                        (a kill during a partition, two nodes down at once, ...)
  --quiet-ms A-B        healthy interval before each fault, ms (default 1000-3000)
  --fault-ms A-B        how long each fault is held, ms (default 2000-5000)
  --cover-each          run past --time (up to twice it) until every nemesis has struck once
  --fast-follower-clocks R   emulate clock skew: followers' clocks R× faster than the first leader's
                        (shorter election timeouts); leadership goes back to it after each fault
  --out DIR             write report.json and history.json there (always done, to a temp dir, when not valid)
  --check FILE          re-check a saved history.json instead of running`;

function integer(name: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

function range(name: string, value: string | undefined): readonly [number, number] | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)-(\d+)$/.exec(value);
  if (!m || Number(m[1]) > Number(m[2])) throw new Error(`--${name} must be A-B (milliseconds, A <= B), got ${value}`);
  return [Number(m[1]), Number(m[2])];
}

function skewFactor(value: string): number {
  const n = Number(value);
  if (!(n >= 1 && n <= 20)) throw new Error(`--fast-follower-clocks must be between 1 and 20, got ${value}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      time: { type: 'string' },
      nemesis: { type: 'string' },
      seed: { type: 'string' },
      workload: { type: 'string' },
      consistency: { type: 'string' },
      'unsafe-reads': { type: 'boolean' },
      'unsafe-acks': { type: 'boolean' },
      clients: { type: 'string' },
      keys: { type: 'string' },
      'ops-per-key': { type: 'string' },
      rate: { type: 'string' },
      'deadline-ms': { type: 'string' },
      'fast-follower-clocks': { type: 'string' },
      overlap: { type: 'string' },
      'quiet-ms': { type: 'string' },
      'fault-ms': { type: 'string' },
      'cover-each': { type: 'boolean' },
      out: { type: 'string' },
      check: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.check) {
    const saved = JSON.parse(await readFile(values.check, 'utf8')) as { workload: Workload; history: (RegisterOp | ListOp)[] };
    const result = checkHistory(saved.workload, saved.history, { maxSteps: 20_000_000, timeoutMs: 120_000 });
    if (result.register) {
      for (const k of result.register.keys.filter((k) => k.outcome !== 'ok')) console.log(k.violation ? describeViolation(k.violation) : `${k.key}: ${k.outcome} ${k.reason ?? ''}`);
      console.log(`register: ${result.register.valid === true ? 'VALID' : result.register.valid === false ? 'NOT VALID' : 'UNKNOWN'}`);
      return result.register.valid === true ? 0 : 1;
    }
    for (const a of result.listAppend!.anomalies) console.log(`${a.kind} on ${a.key}: ${a.message}`);
    console.log(`list-append: ${result.listAppend!.valid ? 'VALID' : 'NOT VALID'}`);
    return result.listAppend!.valid ? 0 : 1;
  }
  const workload = (values.workload ?? 'register') as Workload;
  if (workload !== 'register' && workload !== 'list-append') throw new Error(`--workload must be register or list-append, got ${workload}`);
  const consistency = values.consistency ?? 'linearizable';
  if (consistency !== 'linearizable' && consistency !== 'lease') throw new Error(`--consistency must be linearizable or lease, got ${consistency}`);
  const seed = integer('seed', values.seed, Math.floor(Math.random() * 1_000_000))!;
  const nemeses = parseNemeses(values.nemesis ?? AVAILABLE_NEMESES.join(','));
  const time = Number(values.time ?? 60);
  if (!(time > 0)) throw new Error(`--time must be positive, got ${values.time}`);
  const quiet = range('quiet-ms', values['quiet-ms']);
  const fault = range('fault-ms', values['fault-ms']);
  const timing = quiet || fault ? { quietMs: quiet ?? DEFAULT_TIMING.quietMs, faultMs: fault ?? DEFAULT_TIMING.faultMs } : undefined;
  const optional = <K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> => (value === undefined ? {} : ({ [key]: value } as Record<K, number>));
  console.log(`jepsen: seed ${seed}, ${workload}, ${time} s, nemeses ${nemeses.join(',') || 'none'}`);
  const report: JepsenReport = await runJepsen({
    timeSec: time,
    seed,
    workload,
    nemeses,
    consistency,
    unsafeReads: values['unsafe-reads'] === true,
    unsafeAcks: values['unsafe-acks'] === true,
    ...optional('clients', integer('clients', values.clients)),
    ...optional('keys', integer('keys', values.keys)),
    ...optional('opsPerKey', integer('ops-per-key', values['ops-per-key'])),
    ...optional('rate', integer('rate', values.rate)),
    ...optional('deadlineMs', integer('deadline-ms', values['deadline-ms'])),
    ...optional('overlap', integer('overlap', values.overlap)),
    ...(timing ? { timing } : {}),
    ...(values['cover-each'] ? { coverEachNemesis: true } : {}),
    ...(values['fast-follower-clocks'] === undefined ? {} : { fastFollowerClocks: skewFactor(values['fast-follower-clocks']) }),
    log: (line) => console.log(line),
  });
  console.log(`\n${summarize(report)}`);
  const out = values.out ?? (report.valid === true ? undefined : join(tmpdir(), `flotilla-jepsen-${seed}-${Date.now()}`));
  if (out) {
    await mkdir(out, { recursive: true });
    const { history, ...rest } = report;
    await writeFile(join(out, 'report.json'), JSON.stringify(rest, null, 1));
    // Unknown outcomes complete at +Infinity; JSON has no Infinity, so "ret" keeps the give-up time.
    await writeFile(join(out, 'history.json'), JSON.stringify({ workload, origin: report.origin, history }));
    console.log(`history and report written to ${out} (re-check: npx -y pnpm@10 jepsen -- --check ${join(out, 'history.json')})`);
  }
  return report.valid === true ? 0 : report.valid === false ? 1 : 2;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`jepsen: ${(error as Error).stack ?? String(error)}`);
    process.exit(2);
  },
);

/**
 * One Jepsen-style run: a 3-node KV cluster (one process per node, durable WAL, WebSocket
 * transport), concurrent clients recording a history over the HTTP API, a nemesis on a seeded
 * schedule; then heal, wait for convergence, compare the nodes' applied-state digests at a common
 * index (what `flotilla verify` does), read every key once more, and check the history.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '@flotilla/examples';
import { checkListAppend, checkRegisters, type ListCheckResult, type ListOp, type RegisterCheckOptions, type RegisterCheckResult, type RegisterOp } from './checker/index.js';
import { HttpClient, type Endpoint } from './http.js';
import { DEFAULT_TIMING, Nemesis, UNAVAILABLE, type NemesisEvent, type NemesisName, type NemesisTiming } from './nemesis.js';
import { Rng } from './random.js';
import { reproduceCommand } from './report.js';
import { KeySpace, ListAppendClient, RegisterClient, decodeList, type ClientContext, type Consistency } from './workloads.js';

export type Workload = 'register' | 'list-append';

export interface JepsenOptions {
  /** Length of the client phase, in seconds. */
  readonly timeSec: number;
  readonly seed: number;
  readonly workload: Workload;
  readonly nemeses: readonly NemesisName[];
  /** Concurrent clients (default 8). */
  readonly clients?: number;
  /** Keys in use at any time (default 4). */
  readonly keys?: number;
  /** Operations on a key before it is retired for a fresh one (default 120). */
  readonly opsPerKey?: number;
  /** Target rate over all clients, operations per second (default 200). */
  readonly rate?: number;
  /** Deadline of every client request, ms (default 3000). */
  readonly deadlineMs?: number;
  /** Read consistency the clients ask for (default linearizable). */
  readonly consistency?: Consistency;
  /** Stop issuing operations after this many (default 300,000): the history stays bounded. */
  readonly maxOps?: number;
  readonly unsafeReads?: boolean;
  readonly unsafeAcks?: boolean;
  readonly timing?: NemesisTiming;
  /**
   * Independent fault schedules run at once (default 1). With 2 or more the faults overlap: a kill
   * during a partition, a pause while another node is down, two nodes down (no quorum) for a while.
   * The first schedule is the one a single-schedule run with the same seed would draw.
   */
  readonly overlap?: number;
  /**
   * Keep the clients running past timeSec (up to twice it) until every enabled nemesis has struck
   * at least once: short runs in the test suite then cover each of them.
   */
  readonly coverEachNemesis?: boolean;
  /**
   * Emulates clock-rate skew: once the first leader is elected, every other node restarts with its
   * election timeout divided by this factor (as if its clock ran that much faster than the
   * leader's), and the nemesis hands leadership back to the first leader after each fault. Lease
   * reads are safe only while the factor stays within the bound stated in packages/core/README.md.
   */
  readonly fastFollowerClocks?: number;
  /** Per-key search bound of the checker (steps; default 2,000,000) and time (default 20 s). */
  readonly checkMaxSteps?: number;
  readonly checkTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface VerifyResult {
  /** Every node answered and all have the same digest at `index`. */
  readonly agree: boolean;
  /** The nodes reached the same applied index before the deadline. */
  readonly converged: boolean;
  readonly index: number;
  readonly digests: Readonly<Record<string, string | null>>;
}

export interface JepsenReport {
  readonly options: Omit<JepsenOptions, 'log'>;
  /** Whole run, ms (cluster start to check done). */
  readonly durationMs: number;
  readonly clientPhaseMs: number;
  readonly ops: { readonly total: number; readonly ok: number; readonly fail: number; readonly unknown: number; readonly byKind: Readonly<Record<string, number>> };
  readonly keys: number;
  readonly nemesis: { readonly events: readonly NemesisEvent[]; readonly counts: Readonly<Record<string, number>> };
  readonly verify: VerifyResult;
  /** Keys whose final read never succeeded. */
  readonly unreadKeys: readonly string[];
  readonly register?: RegisterCheckResult;
  readonly listAppend?: ListCheckResult;
  /** true: everything checked out; false: a violation (or divergence); 'unknown': the checker gave up. */
  readonly valid: boolean | 'unknown';
  readonly history: readonly (RegisterOp | ListOp)[];
  /** The relative-time origin of the history (monotonic ms). */
  readonly origin: number;
  /** With fastFollowerClocks: the node with the slow clock (the first leader, brought back after each fault). */
  readonly homeLeader?: string;
}

const withoutLog = ({ log: _log, ...rest }: JepsenOptions): Omit<JepsenOptions, 'log'> => rest;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Digests of every node at a common applied index, as `flotilla verify` compares them. */
export async function verifyDigests(endpoints: readonly Endpoint[], http: HttpClient, timeoutMs: number): Promise<VerifyResult> {
  const read = async (endpoint: Endpoint, query = ''): Promise<{ appliedIndex: number; digest: string } | undefined> => {
    const result = await http.send(endpoint, 'GET', `/v1/digest${query}`);
    if (result.kind !== 'response' || result.status !== 200) return undefined;
    return JSON.parse(result.body.toString('utf8')) as { appliedIndex: number; digest: string };
  };
  const deadline = performance.now() + timeoutMs;
  let latest: ({ appliedIndex: number; digest: string } | undefined)[] = [];
  let converged = false;
  while (performance.now() < deadline) {
    latest = await Promise.all(endpoints.map((e) => read(e)));
    if (latest.every((d) => d && d.appliedIndex === latest[0]!.appliedIndex)) {
      converged = true;
      break;
    }
    await sleep(200);
  }
  const answering = latest.filter((d) => d !== undefined);
  const index = answering.length > 0 ? Math.min(...answering.map((d) => d.appliedIndex)) : 0;
  const atIndex = await Promise.all(endpoints.map((e) => read(e, `?index=${index}`)));
  const digests = Object.fromEntries(endpoints.map((e, i) => [e.id, atIndex[i]?.digest ?? null]));
  const values = Object.values(digests);
  return { agree: values.every((d) => d !== null && d === values[0]), converged, index, digests };
}

/**
 * The view of one or more concurrent fault schedules as one: their events merged in time order,
 * their counts summed. (A schedule reports the nemeses it cannot run; reported once here.)
 */
function combineSchedules(schedules: readonly Nemesis[], enabled: readonly NemesisName[]): { events: () => NemesisEvent[]; counts: () => Partial<Record<NemesisName, number>>; coveredAll: () => boolean } {
  const counts = (): Partial<Record<NemesisName, number>> => {
    const sum: Partial<Record<NemesisName, number>> = {};
    for (const s of schedules) for (const [name, n] of Object.entries(s.counts) as [NemesisName, number][]) sum[name] = (sum[name] ?? 0) + n;
    return sum;
  };
  return {
    counts,
    events: () => {
      const [first, ...rest] = schedules;
      const notAvailable = (e: NemesisEvent): boolean => e.nemesis !== 'heal' && UNAVAILABLE[e.nemesis] !== undefined && e.detail === UNAVAILABLE[e.nemesis];
      return [...first!.events, ...rest.flatMap((s) => s.events.filter((e) => !notAvailable(e)))].sort((a, b) => a.at - b.at);
    },
    coveredAll: () => {
      const sum = counts();
      return enabled.every((name) => UNAVAILABLE[name] !== undefined || (sum[name] ?? 0) > 0);
    },
  };
}

/** The process number of the final reads (after healing) in a history. */
export const FINAL_PROCESS = -1;

/** Checks a recorded history (also used to re-check a saved one). */
export function checkHistory(workload: Workload, history: readonly (RegisterOp | ListOp)[], budget: RegisterCheckOptions): { register?: RegisterCheckResult; listAppend?: ListCheckResult } {
  if (workload === 'register') return { register: checkRegisters(history as RegisterOp[], budget) };
  const ops = history as ListOp[];
  const finalReads = new Map<string, readonly string[]>();
  for (const op of ops) if (op.process === FINAL_PROCESS && op.f === 'read' && op.outcome === 'ok' && op.list) finalReads.set(op.key, op.list);
  return { listAppend: checkListAppend(ops, finalReads) };
}

export async function runJepsen(options: JepsenOptions): Promise<JepsenReport> {
  const log = options.log ?? (() => undefined);
  const clients = options.clients ?? 8;
  const deadlineMs = options.deadlineMs ?? 3000;
  const rate = options.rate ?? 200;
  const maxOps = options.maxOps ?? 300_000;
  const consistency = options.consistency ?? 'linearizable';
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-jepsen-'));
  const cluster = await LocalCluster.start({
    size: 3,
    baseDir: dir,
    service: 'kv',
    // Production timing (as the other multi-process tests) with a shorter proposal deadline, so the
    // service answers 504 before the client's own deadline.
    tuning: { electionTimeoutMs: 1000 * (options.fastFollowerClocks ?? 1), heartbeatIntervalMs: 100, proposalTimeoutMs: Math.max(500, deadlineMs - 1000), ...(consistency === 'lease' ? { leaseRead: true } : {}) },
    kvUnsafeTestSwitches: { localReads: options.unsafeReads === true, earlyAcks: options.unsafeAcks === true },
    requestTimeoutMs: 10_000,
  });
  const endpoints: Endpoint[] = cluster.ids.map((id) => {
    const [host, port] = cluster.configs.get(id)!.httpAddress!.split(':');
    return { id, host: host!, port: Number(port) };
  });
  const history: (RegisterOp | ListOp)[] = [];
  const control = new HttpClient(10_000);
  const https: HttpClient[] = [];
  // What the faults did so far, for the error of a run that cannot finish (its seed replays it).
  let faultsSoFar = (): NemesisEvent[] => [];
  try {
    let homeLeader: string | undefined;
    if (options.fastFollowerClocks) {
      homeLeader = await cluster.waitForLeader(20_000);
      for (const id of cluster.ids.filter((id) => id !== homeLeader)) {
        const config = cluster.configs.get(id)!;
        await cluster.kill(id);
        const fast = { ...config, tuning: { ...config.tuning, electionTimeoutMs: 1000 } };
        cluster.configs.set(id, fast); // later restarts keep the fast clock
        await cluster.startNode(id, fast);
      }
      log(`clock skew: ${cluster.ids.filter((id) => id !== homeLeader).join(', ')} run ${options.fastFollowerClocks}× faster than ${homeLeader} (election timeouts 1000 ms vs ${1000 * options.fastFollowerClocks} ms)`);
    }
    await cluster.waitForLeader(20_000);
    const origin = performance.now();
    let id = 0;
    const ctx: ClientContext = { endpoints, consistency, now: () => performance.now(), nextId: () => id++ };
    const keys = new KeySpace(options.keys ?? 4, options.opsPerKey ?? 120, options.workload === 'register' ? 'r' : 'l');
    const schedules = Array.from(
      { length: Math.max(1, options.overlap ?? 1) },
      (_, i) => new Nemesis(cluster, endpoints, control, new Rng(options.seed, i === 0 ? 'nemesis' : `nemesis-${i + 1}`), options.nemeses, options.timing ?? DEFAULT_TIMING, () => performance.now() - origin, log, i === 0 ? homeLeader : undefined),
    );
    const nemesis = combineSchedules(schedules, options.nemeses);
    faultsSoFar = nemesis.events;
    const nemesisDone = Promise.all(schedules.map((s) => s.run()));

    const plannedEnd = origin + options.timeSec * 1000;
    const hardEnd = origin + (options.coverEachNemesis ? 2 : 1) * options.timeSec * 1000;
    const running = (): boolean => {
      const now = performance.now();
      return history.length < maxOps && (now < plannedEnd || (now < hardEnd && options.coverEachNemesis === true && !nemesis.coveredAll()));
    };
    let lastProgress = origin;
    const interval = (clients / rate) * 1000;
    const loops = Array.from({ length: clients }, async (_, p) => {
      const rng = new Rng(options.seed, `client-${p}`);
      const http = new HttpClient(deadlineMs);
      https.push(http);
      const client = options.workload === 'register' ? new RegisterClient(p, rng, http, keys, ctx) : new ListAppendClient(p, rng, http, keys, ctx, deadlineMs);
      // Open-loop pacing per client (each waits for its own operation): about `rate` ops/s in all.
      let next = performance.now() + rng.range(0, interval);
      while (running()) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next = Math.max(next + interval, performance.now());
        if (!running()) break;
        history.push(await client.step());
        if (p === 0 && performance.now() - lastProgress > 10_000) {
          lastProgress = performance.now();
          const unknown = history.filter((o) => o.outcome === 'unknown').length;
          log(`[${((performance.now() - origin) / 1000).toFixed(0)}s] ${history.length} operations (${unknown} unknown)`);
        }
      }
    });
    await Promise.all(loops);
    const clientPhaseMs = performance.now() - origin;
    if (history.length >= maxOps) log(`history bound reached: ${maxOps} operations`);
    for (const s of schedules) s.stop();
    await nemesisDone;
    for (const s of schedules) await s.healAll();
    await cluster.waitForLeader(30_000);

    // Final reads of every key (linearizable, retried until they succeed): part of the history.
    const unreadKeys: string[] = [];
    const finalHttp = new HttpClient(deadlineMs);
    https.push(finalHttp);
    for (const key of keys.all) {
      let done = false;
      for (let attempt = 0; attempt < 20 && !done; attempt++) {
        const endpoint = endpoints[attempt % endpoints.length]!;
        const call = performance.now();
        const result = await finalHttp.send(endpoint, 'GET', `/v1/kv/${encodeURIComponent(key)}`);
        const ret = performance.now();
        let value: string | null | undefined;
        if (result.kind === 'response' && result.status === 200) value = result.body.toString('utf8');
        else if (result.kind === 'response' && result.status === 404) value = null;
        if (value === undefined) {
          await sleep(250);
          continue;
        }
        done = true;
        const common = { id: id++, process: FINAL_PROCESS, key, node: endpoint.id, call, ret, outcome: 'ok' as const };
        if (options.workload === 'register') history.push({ ...common, f: 'read', value });
        else history.push({ ...common, f: 'read', list: decodeList(value) });
      }
      if (!done) unreadKeys.push(key);
    }
    const verify = await verifyDigests(endpoints, control, 30_000);
    log(`verify: ${verify.agree ? 'all nodes agree' : 'nodes DISAGREE or did not answer'} at index ${verify.index}${verify.converged ? '' : ' (they did not reach the same applied index in time)'}`);

    // Check.
    const count = (pred: (o: RegisterOp | ListOp) => boolean): number => history.filter(pred).length;
    const byKind: Record<string, number> = {};
    for (const op of history) byKind[`${op.f} ${op.outcome}`] = (byKind[`${op.f} ${op.outcome}`] ?? 0) + 1;
    const checkStarted = performance.now();
    const { register, listAppend } = checkHistory(options.workload, history, { maxSteps: options.checkMaxSteps ?? 2_000_000, timeoutMs: options.checkTimeoutMs ?? 20_000 });
    log(`checked ${history.length} operations on ${keys.all.length} keys in ${((performance.now() - checkStarted) / 1000).toFixed(1)} s`);
    const checkerValid = register ? register.valid : listAppend ? listAppend.valid : false;
    const valid = !verify.agree || unreadKeys.length > 0 || checkerValid === false ? false : checkerValid;
    return {
      options: withoutLog(options),
      durationMs: performance.now() - started,
      clientPhaseMs,
      ops: { total: history.length, ok: count((o) => o.outcome === 'ok'), fail: count((o) => o.outcome === 'fail'), unknown: count((o) => o.outcome === 'unknown'), byKind },
      keys: keys.all.length,
      nemesis: { events: nemesis.events(), counts: nemesis.counts() },
      verify,
      unreadKeys,
      ...(register ? { register } : {}),
      ...(listAppend ? { listAppend } : {}),
      valid,
      history,
      origin,
      ...(homeLeader ? { homeLeader } : {}),
    };
  } catch (error) {
    const events = faultsSoFar().map((e) => `  ${(e.at / 1000).toFixed(1)} s ${e.nemesis}: ${e.detail}`);
    throw new Error(`${(error as Error)?.message ?? String(error)}\nreproduce: ${reproduceCommand({ options })}\nfaults:\n${events.join('\n')}`, { cause: error });
  } finally {
    for (const http of [control, ...https]) http.close();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

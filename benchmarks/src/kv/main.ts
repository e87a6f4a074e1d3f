import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalCluster } from '@flotilla/examples';
import { formatRate, printTable } from '../report.js';
import { EtcdCluster, etcdAvailable, etcdVersion, ETCD } from './etcd.js';
import { closedLoop, type LoadResult, type RequestFor } from './load.js';

/**
 * `pnpm bench:kv [-- --quick] [--seconds N] [--levels 1,32,256] [--only flotilla,etcd] [--warmup-seconds S] [--cpu-prof-dir DIR] [--json FILE]`: puts per second
 * and latency of the KV service (3 node processes, its HTTP API) under a closed loop of C HTTP
 * clients, next to a 3-member etcd cluster on the same machine (when /usr/bin/etcd is installed)
 * driven by the same load generator through its HTTP/JSON gateway. Both are measured in the same
 * run, one after the other; every client talks to the leader.
 */
const args = process.argv.slice(2).filter((a) => a !== '--');
const valueOf = (flag: string): string | undefined => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const quick = args.includes('--quick');
const secondsArg = valueOf('--seconds');
const seconds = secondsArg === undefined ? (quick ? 3 : 10) : Number(secondsArg);
if (!(seconds > 0)) throw new RangeError(`--seconds takes a positive number, got ${secondsArg}`);
const levelsArg = valueOf('--levels');
const levels = levelsArg ? levelsArg.split(',').map(Number) : [1, 32, 256];
if (!levels.every((c) => Number.isSafeInteger(c) && c > 0)) throw new RangeError(`--levels takes positive integers, got ${levelsArg}`);
const json = valueOf('--json');
const onlyArg = valueOf('--only');
const only = new Set((onlyArg ?? 'flotilla,etcd').split(','));
if (![...only].every((o) => o === 'flotilla' || o === 'etcd')) throw new RangeError(`--only takes flotilla and/or etcd, got ${onlyArg}`);
const cpuProfileDir = valueOf('--cpu-prof-dir');
const warmupArg = valueOf('--warmup-seconds');
const warmupMs = (warmupArg === undefined ? 2 : Number(warmupArg)) * 1000;
if (!(warmupMs >= 0)) throw new RangeError(`--warmup-seconds takes a number ≥ 0, got ${warmupArg}`);
const durationMs = seconds * 1000;
const VALUE_BYTES = 128;

const value = Buffer.alloc(VALUE_BYTES, 'v');
/** Distinct keys: level, client and sequence number. */
const keyOf = (c: number, client: number, n: number): string => `bench-c${c}-${client}-${n}`;

async function benchFlotilla(dir: string): Promise<LoadResult[]> {
  const cluster = await LocalCluster.start({ size: 3, baseDir: join(dir, 'flotilla'), service: 'kv', logLevel: 'error', requestTimeoutMs: 60_000, nodeArgs: cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`] : [] });
  const results: LoadResult[] = [];
  try {
    const leader = await cluster.waitForLeader(15_000);
    const [host, port] = cluster.configs.get(leader)!.httpAddress!.split(':') as [string, string];
    for (const c of levels) {
      const requestFor: RequestFor = (client, n) => ({ method: 'PUT', path: `/v1/kv/${keyOf(c, client, n)}`, body: value });
      const result = await closedLoop({ host, port: Number(port), concurrency: c, warmupMs, durationMs, requestFor });
      console.log(`  flotilla C=${c}: ${formatRate(result.putsPerSec)}, p50 ${result.p50Us} µs, p99 ${result.p99Us} µs${result.errors ? `, ${result.errors} errors (${result.firstError})` : ''}`);
      results.push(result);
    }
  } finally {
    await cluster.stop();
  }
  return results;
}

async function benchEtcd(dir: string): Promise<LoadResult[]> {
  const cluster = await EtcdCluster.start(join(dir, 'etcd'));
  const results: LoadResult[] = [];
  try {
    const leader = await cluster.leader();
    const valueB64 = value.toString('base64');
    for (const c of levels) {
      const requestFor: RequestFor = (client, n) => ({
        method: 'POST',
        path: '/v3/kv/put',
        body: Buffer.from(`{"key":"${Buffer.from(keyOf(c, client, n)).toString('base64')}","value":"${valueB64}"}`),
        headers: 'Content-Type: application/json\r\n',
      });
      const result = await closedLoop({ host: '127.0.0.1', port: leader.clientPort, concurrency: c, warmupMs, durationMs, requestFor });
      console.log(`  etcd     C=${c}: ${formatRate(result.putsPerSec)}, p50 ${result.p50Us} µs, p99 ${result.p99Us} µs${result.errors ? `, ${result.errors} errors (${result.firstError})` : ''}`);
      results.push(result);
    }
  } finally {
    await cluster.stop();
  }
  return results;
}

const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');

console.log(`KV benchmark${quick ? ' (quick)' : ''}: node ${process.version}, ${cpus().length} cores; 3 nodes on 127.0.0.1, ${VALUE_BYTES}-byte values, distinct keys, C closed-loop HTTP/1.1 clients (one keep-alive connection each) to the leader, ${warmupMs / 1000} s warm-up + ${seconds} s per level`);
const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-kv-'));
let stopping = false;
const cleanup = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await rm(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
try {
  let flotilla: LoadResult[] | undefined;
  if (only.has('flotilla')) {
    console.log('Flotilla KV service (PUT /v1/kv/{key}):');
    flotilla = await benchFlotilla(dir);
  }
  let etcd: LoadResult[] | undefined;
  let version: string | undefined;
  if (!only.has('etcd')) {
    // not asked for
  } else if (etcdAvailable()) {
    version = etcdVersion();
    console.log(`etcd ${version} (${ETCD}; POST /v3/kv/put through its HTTP/JSON gateway):`);
    etcd = await benchEtcd(dir);
  } else {
    console.log(`\nNote: etcd is not installed (${ETCD} is missing), so only Flotilla was measured. To compare: apt-get install -y etcd-server`);
  }
  const cells = (r: LoadResult | undefined): string[] => (r ? [formatRate(r.putsPerSec), String(r.p50Us), String(r.p99Us)] : []);
  const header = ['C', ...(flotilla ? ['flotilla puts/s', 'p50 µs', 'p99 µs'] : []), ...(etcd ? ['etcd puts/s', 'p50 µs', 'p99 µs'] : []), ...(flotilla && etcd ? ['puts/s ratio', 'p50 ratio'] : [])];
  const rows = levels.map((c, i) => {
    const f = flotilla?.[i];
    const e = etcd?.[i];
    return [String(c), ...cells(f), ...cells(e), ...(f && e ? [ratio(f.putsPerSec, e.putsPerSec), ratio(f.p50Us, e.p50Us)] : [])];
  });
  printTable(flotilla && etcd ? 'KV service vs etcd (ratios: Flotilla / etcd; puts/s higher is better, p50 lower is better)' : flotilla ? 'KV service' : 'etcd', header, rows);
  if (json) {
    await writeFile(json, JSON.stringify({ node: process.version, cores: cpus().length, seconds, warmupMs, valueBytes: VALUE_BYTES, levels, flotilla, etcd: etcd ? { version, results: etcd } : null }, null, 2));
    console.log(`\nwrote ${json}`);
  }
} finally {
  await cleanup();
}

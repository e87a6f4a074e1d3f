// The `flotilla` command: run and operate a Flotilla KV cluster.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@flotilla/core';
import { tuneAllocator } from '@flotilla/storage';
import { startKvService } from '../kv/service.js';
import { LocalCluster } from '../node/cluster.js';
import { LOG_LEVELS, type LogLevel } from '../node/config.js';
import { integer, parseArgs, single, type ParsedArgs } from './args.js';
import { loadNodeConfig } from './node-config.js';

const USAGE = `usage: flotilla <command> [options]

  start --config FILE [--id ID --cluster-id C --secret S --raft-address H:P --http-address H:P
        --peer ID=H:P[,H:P] ... --data-dir D --election-timeout-ms N --heartbeat-interval-ms N
        --rpc-timeout-ms N --proposal-timeout-ms N --snapshot-entries N --log-level error|warn|info|debug
        --join]
                                  start one KV node (every config key is also a flag); logs
                                  JSON lines to stdout; its dashboard is at http://HTTP-ADDRESS/
  cluster --nodes N [--base-port P] [--data-dir D] [--log-level L]
                                  start N nodes on this machine; Ctrl-C stops them all; prints
                                  the dashboard URL; nodes log JSON lines to stderr (default warn)
  demo                            a 3-node cluster with a short write load
  status                          the status of every node
  put KEY VALUE | get KEY [--consistency linearizable|lease|stale] | del KEY
  transfer ID                     move leadership to ID
  verify                          check that every node applied the same commands
  join --id ID --raft-address H:P --http-address H:P [--voter] [--node URL]
                                  add a member: records its addresses and adds it as a learner
                                  (--voter: promoted to voter once caught up). Start the new
                                  node itself with 'flotilla start --config FILE --join'
  leave --id ID [--node URL]      remove a member (then stop its process)

  Commands that talk to a cluster use --endpoints http://H:P,... or --node URL (default:
  $FLOTILLA_ENDPOINTS, or the HTTP ports of 'flotilla cluster' with the default base port).
  Snapshots: --snapshot-entries N, --snapshot-bytes N, --snapshot-keep-entries N (config keys
  snapshotEntries, snapshotBytes, snapshotKeepEntries).`;

const DEFAULT_BASE_PORT = 7001;
/** Flags that take no value. */
const BOOLEAN_FLAGS = new Set(['join', 'voter']);

function endpoints(args: ParsedArgs): string[] {
  const raw = single(args, 'node') ?? single(args, 'endpoints') ?? process.env['FLOTILLA_ENDPOINTS'];
  if (raw) return raw.split(',').map((e) => (e.startsWith('http') ? e : `http://${e}`).replace(/\/+$/, ''));
  return [0, 1, 2].map((i) => `http://127.0.0.1:${DEFAULT_BASE_PORT + 100 + i}`);
}

/** Sends a request to the first endpoint that answers; the KV API forwards to the leader itself. */
async function call(args: ParsedArgs, method: string, path: string, body?: string | Buffer, timeoutMs = 10_000): Promise<Response> {
  const errors: string[] = [];
  for (const endpoint of endpoints(args)) {
    try {
      return await fetch(`${endpoint}${path}`, { method, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      errors.push(`${endpoint}: ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`);
    }
  }
  throw new Error(`no node answered (${errors.join('; ')})`);
}

async function printJson(response: Response): Promise<number> {
  const text = await response.text();
  try {
    console.log(JSON.stringify(JSON.parse(text), null, 2));
  } catch {
    console.log(text);
  }
  return response.ok ? 0 : 1;
}

async function waitForSignal(): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function startCommand(args: ParsedArgs): Promise<number> {
  const config = await loadNodeConfig(args);
  // This process is ours: megabyte frames (snapshot chunks, bulk appends) should not fault in fresh pages.
  const allocator = tuneAllocator();
  // The service logs its state changes, peer connections and errors as JSON lines to stdout.
  const service = await startKvService(config);
  service.log.debug({ event: 'allocator', ...allocator }, allocator.applied ? 'glibc malloc tuned for large messages' : 'allocator not tuned (not glibc)');
  await waitForSignal();
  service.log.info({ event: 'stopping' }, 'stopping');
  await service.close();
  return 0;
}

async function clusterCommand(args: ParsedArgs, demo: boolean): Promise<number> {
  const size = demo ? 3 : integer(args, 'nodes', 3);
  const basePort = integer(args, 'base-port', DEFAULT_BASE_PORT, 1024);
  const dataDir = single(args, 'data-dir') ?? (await mkdtemp(join(tmpdir(), 'flotilla-cluster-')));
  const logLevel = single(args, 'log-level') ?? 'warn';
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) throw new ConfigError('log-level', `must be one of ${LOG_LEVELS.join(', ')}, got ${logLevel}`);
  const cluster = await LocalCluster.start({
    size,
    baseDir: dataDir,
    basePort,
    service: 'kv',
    control: true,
    logLevel: logLevel as LogLevel,
    onEvent: (e) => {
      if (e['event'] === 'state') console.log(`${e['id']}: ${e['role']} in term ${e['term']}, leader ${e['leader'] || 'unknown'}`);
    },
  });
  for (const id of cluster.ids) {
    const c = cluster.configs.get(id)!;
    console.log(`${id}: raft ${c.raftAddress}  http http://${c.httpAddress}  data ${c.dataDir}`);
  }
  console.log(`dashboard: http://${cluster.configs.get(cluster.ids[0]!)!.httpAddress}/ (any node's HTTP address serves it)`);
  const leader = await cluster.waitForLeader(15_000);
  console.log(`leader: ${leader}. Try: pnpm flotilla put greeting hello; pnpm flotilla get greeting. Ctrl-C stops every node.`);
  let stopLoad = false;
  if (demo) {
    const api = cluster.httpEndpoints();
    void (async () => {
      for (let i = 0; !stopLoad && i < 2000; i++) {
        await fetch(`${api[i % api.length]}/v1/kv/demo-${i % 50}`, { method: 'PUT', body: `value-${i}` }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (!stopLoad) console.log('demo load done: 2000 writes over 50 keys');
    })();
  }
  await waitForSignal();
  stopLoad = true;
  console.log('stopping every node');
  await cluster.stop();
  return 0;
}

async function verifyCommand(args: ParsedArgs): Promise<number> {
  const nodes = endpoints(args);
  const read = async (endpoint: string, query = ''): Promise<{ id: string; appliedIndex: number; digest: string } | undefined> => {
    try {
      const r = await fetch(`${endpoint}/v1/digest${query}`, { signal: AbortSignal.timeout(5000) });
      return r.ok ? ((await r.json()) as { id: string; appliedIndex: number; digest: string }) : undefined;
    } catch {
      return undefined;
    }
  };
  const latest = await Promise.all(nodes.map((e) => read(e)));
  const answering = latest.filter((d) => d !== undefined);
  if (answering.length === 0) throw new Error('no node answered');
  const common = Math.min(...answering.map((d) => d.appliedIndex));
  const atCommon = await Promise.all(nodes.map((e) => read(e, `?index=${common}`)));
  let agree = true;
  for (let i = 0; i < nodes.length; i++) {
    const d = atCommon[i];
    console.log(`${nodes[i]}: ${d ? `${d.id} digest ${d.digest.slice(0, 16)} at index ${common}` : 'no answer'}`);
    if (d && d.digest !== atCommon.find((x) => x)?.digest) agree = false;
  }
  const missing = atCommon.filter((d) => !d).length;
  console.log(agree ? `all ${nodes.length - missing} answering nodes agree at index ${common}${missing ? ` (${missing} did not answer)` : ''}` : 'nodes DISAGREE');
  return agree && missing === 0 ? 0 : 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const args = parseArgs(rest, BOOLEAN_FLAGS);
  switch (command) {
    case 'start':
      return startCommand(args);
    case 'cluster':
      return clusterCommand(args, false);
    case 'demo':
      return clusterCommand(args, true);
    case 'status': {
      let code = 0;
      for (const endpoint of endpoints(args)) {
        try {
          const status = (await (await fetch(`${endpoint}/v1/status`, { signal: AbortSignal.timeout(5000) })).json()) as Record<string, unknown>;
          console.log(`${endpoint}: ${status['id']} ${status['role']} term ${status['term']} leader ${status['leader'] ?? '-'} commit ${status['commitIndex']} applied ${status['appliedIndex']}`);
        } catch (error) {
          code = 1;
          console.log(`${endpoint}: down (${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message})`);
        }
      }
      return code;
    }
    case 'put': {
      const [key, value] = args.positional;
      if (key === undefined || value === undefined) throw new ConfigError('put', 'needs KEY and VALUE');
      return printJson(await call(args, 'PUT', `/v1/kv/${encodeURIComponent(key)}`, value));
    }
    case 'get': {
      const [key] = args.positional;
      if (key === undefined) throw new ConfigError('get', 'needs KEY');
      const consistency = single(args, 'consistency');
      const response = await call(args, 'GET', `/v1/kv/${encodeURIComponent(key)}${consistency ? `?consistency=${consistency}` : ''}`);
      if (!response.ok) return printJson(response);
      console.log(await response.text());
      return 0;
    }
    case 'del': {
      const [key] = args.positional;
      if (key === undefined) throw new ConfigError('del', 'needs KEY');
      return printJson(await call(args, 'DELETE', `/v1/kv/${encodeURIComponent(key)}`));
    }
    case 'transfer': {
      const [to] = args.positional;
      if (to === undefined) throw new ConfigError('transfer', 'needs the id of the new leader');
      return printJson(await call(args, 'POST', '/v1/leader/transfer', JSON.stringify({ to })));
    }
    case 'verify':
      return verifyCommand(args);
    case 'join': {
      const id = single(args, 'id');
      const raftAddress = single(args, 'raft-address');
      const httpAddress = single(args, 'http-address');
      if (!id) throw new ConfigError('id', 'join needs --id ID');
      if (!raftAddress) throw new ConfigError('raft-address', 'join needs --raft-address host:port (where the new node listens for its peers)');
      if (!httpAddress) throw new ConfigError('http-address', 'join needs --http-address host:port (the new node\'s HTTP API)');
      const voter = single(args, 'voter') ?? 'false';
      if (voter !== 'true' && voter !== 'false') throw new ConfigError('voter', `must be true or false, got ${voter}`);
      const body = JSON.stringify({ id, raftAddress, httpAddress, voter: voter === 'true' });
      return printJson(await call(args, 'POST', '/v1/members', body, 30_000));
    }
    case 'leave': {
      const id = single(args, 'id') ?? args.positional[0];
      if (!id) throw new ConfigError('id', 'leave needs --id ID');
      return printJson(await call(args, 'DELETE', `/v1/members/${encodeURIComponent(id)}`, undefined, 30_000));
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`flotilla: unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) console.error(`flotilla: bad configuration: ${error.message}`);
    else console.error(`flotilla: ${(error as Error).message}`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  },
);

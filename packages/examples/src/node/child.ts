// One Flotilla node as a child process, driven by its parent over IPC (tests and benchmarks).
// Config: JSON in FLOTILLA_NODE_CONFIG. FLOTILLA_KEEP_ENTRIES=1 keeps the list of applied commands.
import { FlotillaError, TimeoutError, NotLeaderError, defaultResultCodec, type ResultCodec } from '@flotilla/core';
import { tuneAllocator } from '@flotilla/storage';
import { HttpServer } from '../http/server.js';
import { clientApi } from './client-api.js';
import { parseHostPort, parseNodeConfig } from './config.js';
import { LatencyHistogram } from './histogram.js';
import { Ledger } from './ledger.js';
import { startNode, type RunningNode } from './server.js';
import { startKvService } from '../kv/service.js';

// As `flotilla start` does: large frames should not fault in fresh pages (see tuneAllocator).
tuneAllocator();

interface Request {
  readonly seq: number;
  readonly op: string;
  readonly [key: string]: unknown;
}

const send = (message: object): void => {
  if (process.connected) process.send!(message);
};

const config = parseNodeConfig(JSON.parse(process.env['FLOTILLA_NODE_CONFIG'] ?? 'null'));
const ledger = new Ledger(process.env['FLOTILLA_KEEP_ENTRIES'] === '1', process.env['FLOTILLA_LEDGER_HASHING'] !== '0');
// FLOTILLA_SERVICE=kv runs the KV service (its HTTP API on httpAddress); otherwise the test ledger.
// FLOTILLA_KV_UNSAFE_TEST lists UNSAFE test switches of the KV service (local-reads, early-acks).
const unsafe = new Set((process.env['FLOTILLA_KV_UNSAFE_TEST'] ?? '').split(',').filter((s) => s !== ''));
for (const name of unsafe) if (name !== 'local-reads' && name !== 'early-acks') throw new Error(`unknown unsafe test switch ${name}`);
if (unsafe.size > 0) console.error(`${config.id}: UNSAFE test switches on: ${[...unsafe].join(', ')} (this node is not linearizable)`);
const kvService = process.env['FLOTILLA_SERVICE'] === 'kv'
  ? await startKvService(config, { unsafeTestLocalReads: unsafe.has('local-reads'), unsafeTestEarlyAcks: unsafe.has('early-acks'), logFd: 2, ...controlEndpoint() })
  : undefined;
const { node, transport, wire } = (kvService?.running ?? (await startNode(config, ledger))) as RunningNode<unknown>;
node.on('stateChange', (state) => send({ event: 'state', id: config.id, ...state }));
node.on('error', (error) => send({ event: 'error', id: config.id, message: error.message }));
node.on('snapshot', (meta) => send({ event: 'snapshot', id: config.id, index: meta.index, term: meta.term }));
node.on('snapshotRestored', (meta) => send({ event: 'snapshotRestored', id: config.id, index: meta.index, term: meta.term }));
node.on('membershipChange', (c) => send({ event: 'membershipChange', id: config.id, voters: c.voters, learners: c.learners, outgoingVoters: c.outgoingVoters }));
let http: HttpServer | undefined;
if (config.httpAddress && !kvService) {
  const { host, port } = parseHostPort('httpAddress', config.httpAddress);
  const timeoutMs = config.tuning.proposalTimeoutMs ?? 5000;
  http = new HttpServer(clientApi(node, defaultResultCodec as ResultCodec<unknown>, timeoutMs), { maxBodyBytes: 1024 * 1024, deadlineMs: timeoutMs + 1000 });
  await http.listen(host, port);
}
const shutdown = (): void => {
  http?.close();
  kvService?.http.close();
  void node.close().then(() => process.exit(0));
};

/** The local cluster launcher's control port, for the dashboard's stop/start buttons (LocalCluster option `control`). */
function controlEndpoint(): { control?: { url: string; token: string } } {
  const url = process.env['FLOTILLA_CONTROL_URL'];
  const token = process.env['FLOTILLA_CONTROL_TOKEN'];
  return url && token ? { control: { url, token } } : {};
}

function describe(error: unknown): object {
  if (error instanceof NotLeaderError) return { code: error.code, message: error.message, leaderId: error.leaderId };
  if (error instanceof TimeoutError) return { code: error.code, message: error.message, outcomeUnknown: error.outcomeUnknown };
  if (error instanceof FlotillaError) return { code: error.code, message: error.message };
  return { code: 'ERROR', message: (error as Error)?.message ?? String(error) };
}

/** Closed-loop proposers inside this (leader) process: the workload of the cluster benchmark. */
async function load(concurrency: number, warmupMs: number, durationMs: number, payloadBytes: number): Promise<object> {
  const payload = new Uint8Array(payloadBytes).fill(42);
  const histogram = new LatencyHistogram();
  let measuring = false;
  let running = true;
  let completed = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (running) {
      const started = performance.now();
      try {
        await node.propose(payload);
      } catch {
        failures++;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (measuring) {
        histogram.record((performance.now() - started) * 1000);
        completed++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const start = performance.now();
  const rssSamples: number[] = [];
  const progress = setInterval(() => {
    const rss = process.memoryUsage().rss;
    rssSamples.push(rss);
    send({ event: 'progress', completed, elapsedMs: performance.now() - start, rssBytes: rss });
  }, 1000);
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const elapsedMs = performance.now() - start;
  clearInterval(progress);
  running = false;
  await Promise.all(workers);
  return {
    concurrency,
    completed,
    failures,
    opsPerSec: (completed / elapsedMs) * 1000,
    p50Us: histogram.percentile(0.5),
    p99Us: histogram.percentile(0.99),
    p999Us: histogram.percentile(0.999),
    maxUs: Math.round(histogram.maxUs),
    rssBytes: process.memoryUsage().rss,
    rssSamples,
  };
}

async function handle(request: Request): Promise<object> {
  switch (request.op) {
    case 'status':
      return { ...node.status(), transport: wire.stats() };
    case 'propose': {
      const data = Buffer.from(String(request['data']), 'base64');
      const result = await node.propose(data, { forward: request['forward'] === true, timeoutMs: Number(request['timeoutMs'] ?? 5000) });
      return { index: result.index, term: result.term, result: result.result };
    }
    case 'digest':
      return kvService ? kvService.kv.digest() : ledger.digest();
    case 'snapshot':
      // Takes a snapshot now (the node must have a snapshot store and a state machine that snapshots).
      return { ...(await node.snapshot()) };
    case 'entries':
      return { entries: ledger.entries };
    case 'block': {
      const direction = request['direction'] ?? 'both';
      if (direction !== 'both' && direction !== 'outbound' && direction !== 'inbound') throw new FlotillaError('BAD_REQUEST', `bad direction ${String(direction)}`);
      transport.block(request['peers'] as string[], direction);
      return {};
    }
    case 'heal':
      transport.heal();
      return {};
    case 'load':
      return load(Number(request['concurrency']), Number(request['warmupMs']), Number(request['durationMs']), Number(request['payloadBytes'] ?? 128));
    case 'stop':
      setImmediate(shutdown);
      return {};
    default:
      throw new FlotillaError('BAD_REQUEST', `unknown op ${request.op}`);
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (result) => send({ re: request.seq, ok: true, ...result }),
    (error: unknown) => send({ re: request.seq, ok: false, error: describe(error) }),
  );
});
process.on('disconnect', shutdown);
process.on('SIGTERM', shutdown);
send({ event: 'ready', id: config.id });

import { errorReply } from '../http/server.js';
import { HttpServer } from '../http/server.js';
import { parseHostPort, type NodeConfig } from '../node/config.js';
import { startNode, type RunningNode } from '../node/server.js';
import { kvApi, type KvApiOptions } from './api.js';
import { prometheusMetrics } from './metrics.js';
import { KvStateMachine, type KvResult } from './state-machine.js';

export interface KvService {
  readonly running: RunningNode<KvResult>;
  readonly kv: KvStateMachine;
  readonly http: HttpServer;
  close(): Promise<void>;
}

/** A replicated key-value store node: durable Raft log, peer transport, and the HTTP API. */
export async function startKvService(config: NodeConfig, options: Partial<KvApiOptions> = {}): Promise<KvService> {
  if (!config.httpAddress) throw new Error('the KV service needs httpAddress');
  const kv = new KvStateMachine();
  const running = await startNode<KvResult>({ ...config, forwardProposals: true }, kv);
  const timeoutMs = options.timeoutMs ?? config.tuning.proposalTimeoutMs ?? 5000;
  const api: KvApiOptions = { maxValueBytes: options.maxValueBytes ?? 1024 * 1024, maxKeyBytes: options.maxKeyBytes ?? 1024, timeoutMs };
  const handler = kvApi(running.node, kv, config, api, (request) => {
    if (request.path === '/metrics' && request.method === 'GET') {
      return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: prometheusMetrics(running.node, running.wire.stats(), { flotilla_kv_keys: kv.size }) };
    }
    return errorReply(404, 'not_found', `no route for ${request.method} ${request.path}`);
  });
  const http = new HttpServer(handler, { maxBodyBytes: api.maxValueBytes + 64 * 1024, deadlineMs: timeoutMs + 1000 });
  const { host, port } = parseHostPort('httpAddress', config.httpAddress);
  try {
    await http.listen(host, port);
  } catch (error) {
    await running.node.close();
    throw error;
  }
  return {
    running,
    kv,
    http,
    async close() {
      http.close();
      await running.node.close();
    },
  };
}

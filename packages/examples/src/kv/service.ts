import { errorReply } from '../http/server.js';
import { HttpServer } from '../http/server.js';
import { dashboardRoutes, statusSnapshot } from '../dashboard/routes.js';
import { StatusWatch } from '../dashboard/watch.js';
import { NodeMetrics } from '../metrics/node-metrics.js';
import { parseHostPort, type NodeConfig } from '../node/config.js';
import type { ControlEndpoint } from '../node/control.js';
import { createNodeLogger, logLinkChange, logNodeEvents, transportLogger, type NodeLogger } from '../node/log.js';
import { startNode, type RunningNode } from '../node/server.js';
import { kvApi, type KvApiOptions } from './api.js';
import { memberList } from './members.js';
import { prometheusMetrics } from './metrics.js';
import { KvStateMachine, type KvResult } from './state-machine.js';

export interface KvService {
  readonly running: RunningNode<KvResult>;
  readonly kv: KvStateMachine;
  readonly http: HttpServer;
  readonly log: NodeLogger;
  readonly metrics: NodeMetrics;
  close(): Promise<void>;
}

/** How the service logs and whether its dashboard offers stop/start (given by the local cluster launcher). */
export interface KvServiceOptions {
  /** Default: JSON lines at config.logLevel to `logFd`. */
  readonly logger?: NodeLogger;
  /** 1 = stdout (default), 2 = stderr. */
  readonly logFd?: 1 | 2;
  readonly control?: ControlEndpoint;
}

/** A replicated key-value store node: durable Raft log, peer transport, and the HTTP API. */
export async function startKvService(config: NodeConfig, options: Partial<KvApiOptions> & KvServiceOptions = {}): Promise<KvService> {
  if (!config.httpAddress) throw new Error('the KV service needs httpAddress');
  const kv = new KvStateMachine();
  const metrics = new NodeMetrics();
  const log = options.logger ?? createNodeLogger(config.id, config.logLevel, options.logFd ?? 1);
  const running = await startNode<KvResult>({ ...config, forwardProposals: true }, kv, { storageObserver: metrics.storageObserver, transportLogger: transportLogger(log), onLinkChange: logLinkChange(log) });
  logNodeEvents(log, running.node);
  metrics.observeSnapshots(running.node);
  const source = {
    node: running.node,
    config,
    metrics,
    peerStats: () => running.wire.peerStats(),
    members: () => memberList(running.node, kv, config).map(({ id, httpAddress, voter }) => ({ id, httpAddress, voter })),
  };
  const watch = new StatusWatch(() => statusSnapshot(source));
  const dashboard = dashboardRoutes(source, options.control);
  const timeoutMs = options.timeoutMs ?? config.tuning.proposalTimeoutMs ?? 5000;
  const api: KvApiOptions = {
    maxValueBytes: options.maxValueBytes ?? 1024 * 1024,
    maxKeyBytes: options.maxKeyBytes ?? 1024,
    timeoutMs,
    unsafeTestLocalReads: options.unsafeTestLocalReads === true,
    unsafeTestEarlyAcks: options.unsafeTestEarlyAcks === true,
  };
  const handler = metrics.timeWrites(kvApi(running.node, kv, config, api, (request) => {
    if (request.path === '/metrics' && request.method === 'GET') {
      const extra = { flotilla_kv_keys: ['Keys in the store.', kv.size], flotilla_dashboard_watchers: ['WebSocket clients of /v1/watch.', watch.clients] } as const;
      return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body: prometheusMetrics(running.node, running.wire, extra, metrics) };
    }
    return dashboard(request) ?? errorReply(404, 'not_found', `no route for ${request.method} ${request.path}`);
  }));
  const http = new HttpServer(handler, { maxBodyBytes: api.maxValueBytes + 64 * 1024, deadlineMs: timeoutMs + 1000, websocket: watch.route });
  const { host, port } = parseHostPort('httpAddress', config.httpAddress);
  try {
    await http.listen(host, port);
  } catch (error) {
    watch.close();
    await running.node.close();
    throw error;
  }
  log.info({ event: 'listening', raftAddress: config.raftAddress, httpAddress: config.httpAddress, dataDir: config.dataDir }, `raft on ${config.raftAddress}, http on ${config.httpAddress}, data in ${config.dataDir}`);
  return {
    running,
    kv,
    http,
    log,
    metrics,
    async close() {
      watch.close();
      http.close();
      await running.node.close();
      log.info({ event: 'stopped' }, 'stopped');
    },
  };
}

import type { RaftNode } from '@flotilla/core';
import type { PeerTrafficStats } from '@flotilla/transport';
import { json, type HttpReply, type HttpRequest } from '../http/server.js';
import type { NodeMetrics } from '../metrics/node-metrics.js';
import type { NodeConfig } from '../node/config.js';
import type { ControlEndpoint } from '../node/control.js';
import { DASHBOARD_HTML } from './page.js';

export const NO_CONTROL_REASON =
  'this node was not started by the local cluster launcher (flotilla cluster or pnpm demo), which alone can stop and start node processes';

export interface DashboardSource {
  readonly node: Pick<RaftNode<unknown>, 'status'>;
  readonly config: NodeConfig;
  readonly metrics: NodeMetrics;
  readonly peerStats: () => Record<string, PeerTrafficStats>;
  /**
   * The current members and their HTTP addresses, as this node's configuration has them (members
   * join and leave at run time). Without it, the static configuration's peers.
   */
  readonly members?: () => readonly DashboardMember[];
}

export interface DashboardMember {
  readonly id: string;
  readonly httpAddress: string | null;
  /** False for a learner (no vote yet). */
  readonly voter: boolean;
}

function staticMembers(config: NodeConfig): DashboardMember[] {
  return [config.id, ...Object.keys(config.peers)].sort().map((id) => ({ id, httpAddress: id === config.id ? (config.httpAddress ?? null) : (config.peerHttp[id] ?? null), voter: true }));
}

function members(source: DashboardSource): readonly DashboardMember[] {
  return source.members ? source.members() : staticMembers(source.config);
}

/** What `/v1/watch` pushes: this node's view of itself. */
export function statusSnapshot(source: DashboardSource): unknown {
  const status = source.node.status();
  return {
    id: status.id,
    at: Date.now(),
    role: status.role,
    term: status.term,
    leader: status.leader || null,
    commitIndex: status.commitIndex,
    appliedIndex: status.appliedIndex,
    lastIndex: status.lastIndex,
    persistedIndex: status.persistedIndex,
    members: members(source),
    proposals: { total: source.metrics.proposalSeconds.count, ...source.metrics.recentProposals.read() },
    peers: Object.entries(source.peerStats()).map(([id, p]) => ({ id, connected: p.connected, bytesSent: p.bytesSent, bytesReceived: p.bytesReceived })),
  };
}

/**
 * `GET /` (the page) and `GET /v1/dashboard` (the members and, when the node runs under the local
 * cluster launcher, its control port). Answers undefined for other requests.
 */
export function dashboardRoutes(source: DashboardSource, control: ControlEndpoint | undefined): (request: HttpRequest) => HttpReply | undefined {
  const page = Buffer.from(DASHBOARD_HTML);
  return (request) => {
    if (request.method !== 'GET') return undefined;
    if (request.path === '/' || request.path === '/index.html') {
      return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: page };
    }
    if (request.path === '/v1/dashboard') {
      return json(200, { id: source.config.id, members: members(source), control: control ?? null, controlReason: control ? null : NO_CONTROL_REASON });
    }
    return undefined;
  };
}

import type { RaftNode } from '@flotilla/core';
import type { PeerTrafficStats, TransportStats } from '@flotilla/transport';
import type { NodeMetrics } from '../metrics/node-metrics.js';
import { PrometheusWriter } from '../metrics/prometheus.js';

/** What the transport can tell (the WebSocket transport's stats and, if it has them, per-peer traffic). */
export interface TransportMetricsSource {
  stats(): TransportStats;
  peerStats?(): Record<string, PeerTrafficStats>;
}

/** More gauges, by name: [help, value]. */
export type ExtraGauges = Readonly<Record<string, readonly [string, number]>>;

/**
 * The node's state and counters in the Prometheus text exposition format (version 0.0.4). Every
 * sample carries a `node` label.
 */
export function prometheusMetrics(node: Pick<RaftNode<unknown>, 'status'>, transport: TransportMetricsSource | undefined, extra: ExtraGauges = {}, metrics?: NodeMetrics): string {
  const status = node.status();
  const n = { node: status.id };
  const w = new PrometheusWriter();
  w.single('flotilla_term', 'gauge', 'Current Raft term.', n, status.term);
  w.single('flotilla_is_leader', 'gauge', '1 if this node is the leader.', n, status.role === 'leader' ? 1 : 0);
  w.samples('flotilla_role', 'gauge', '1 for the role this node has, 0 for the others.', ['follower', 'pre-candidate', 'candidate', 'leader'].map((role) => [{ ...n, role }, status.role === role ? 1 : 0] as const));
  w.single('flotilla_commit_index', 'gauge', 'Highest index known committed.', n, status.commitIndex);
  w.single('flotilla_applied_index', 'gauge', 'Highest index applied to the state machine.', n, status.appliedIndex);
  w.single('flotilla_last_index', 'gauge', 'Last index in the log.', n, status.lastIndex);
  w.single('flotilla_persisted_index', 'gauge', 'Last index durable on this node.', n, status.persistedIndex);
  w.samples('flotilla_follower_match_index', 'gauge', 'On the leader: the highest index known replicated on each follower.', status.progress.filter((p) => p.id !== status.id).map((p) => [{ ...n, follower: p.id }, p.match] as const));
  if (metrics) {
    w.single('flotilla_proposals_total', 'counter', 'KV writes (put, delete, cas) this node answered 200.', n, metrics.proposalSeconds.count);
    w.single('flotilla_proposal_failures_total', 'counter', 'KV writes this node answered with an error (refused, timed out, bad request).', n, metrics.proposalFailures);
    w.histogram('flotilla_proposal_duration_seconds', 'Time from a KV write request to its successful reply (committed and applied).', n, metrics.proposalSeconds);
    w.histogram('flotilla_wal_sync_duration_seconds', 'Duration of each WAL group commit: write of the batch and fdatasync.', n, metrics.walSyncSeconds);
    w.histogram('flotilla_wal_append_batch_entries', 'Log entries per append handed to the WAL writer thread.', n, metrics.appendBatchEntries);
    w.single('flotilla_wal_appended_bytes_total', 'counter', 'Bytes appended to the WAL, record headers included.', n, metrics.appendedBytes);
    w.single('flotilla_snapshots_total', 'counter', 'Snapshots taken by this node (its log compacted below each).', n, metrics.snapshotsTaken);
    w.single('flotilla_snapshot_restores_total', 'counter', "Snapshots from a leader that replaced this node's state.", n, metrics.snapshotsRestored);
    w.single('flotilla_snapshot_index', 'gauge', 'Index of the latest snapshot taken or restored here (0: none).', n, metrics.snapshotIndex);
    w.samples(
      'flotilla_snapshot_transfers_total',
      'counter',
      'Finished snapshot streams: direction send (this node leading) or receive, outcome ok, failed (send) or rejected (receive: bad checksum, truncated, superseded).',
      Object.entries(metrics.snapshotTransfers).map(([key, v]) => {
        const [direction, outcome] = key.split('/') as [string, string];
        return [{ ...n, direction, outcome }, v] as const;
      }),
    );
    w.single('flotilla_snapshot_bytes_sent_total', 'counter', 'Bytes of snapshot streams a follower acknowledged in full.', n, metrics.snapshotBytesSent);
    w.single('flotilla_snapshot_bytes_received_total', 'counter', 'Bytes of snapshot streams received, verified and made durable.', n, metrics.snapshotBytesReceived);
  }
  if (transport) {
    const t = transport.stats();
    w.single('flotilla_transport_frames_sent_total', 'counter', 'Frames sent to peers.', n, t.framesSent);
    w.single('flotilla_transport_frames_received_total', 'counter', 'Frames received from peers.', n, t.framesReceived);
    w.single('flotilla_transport_bytes_sent_total', 'counter', 'Bytes sent to peers.', n, t.bytesSent);
    w.single('flotilla_transport_bytes_received_total', 'counter', 'Bytes received from peers.', n, t.bytesReceived);
    w.single('flotilla_transport_dropped_messages_total', 'counter', 'Messages dropped (link down, queue full).', n, t.droppedMessages);
    w.single('flotilla_transport_reconnects_total', 'counter', 'Reconnections to peers.', n, t.reconnects);
    w.single('flotilla_transport_connect_failures_total', 'counter', 'Dial attempts that failed.', n, t.connectFailures);
    w.single('flotilla_transport_open_connections', 'gauge', 'Peer connections open now.', n, t.openConnections);
    const rejected = Object.entries(t.rejectedFrames);
    w.single('flotilla_transport_rejected_frames_total', 'counter', 'Frames rejected as malformed or foreign, all reasons.', n, rejected.reduce((a, [, v]) => a + (v ?? 0), 0));
    w.samples('flotilla_transport_rejected_frames_by_reason_total', 'counter', 'Frames rejected, by reason.', rejected.map(([reason, v]) => [{ ...n, reason }, v ?? 0] as const));
    w.samples('flotilla_transport_refused_handshakes_total', 'counter', 'Connections refused at the handshake, by reason.', Object.entries(t.refusedHandshakes).map(([reason, v]) => [{ ...n, reason }, v ?? 0] as const));
    const peers = Object.entries(transport.peerStats?.() ?? {});
    if (peers.length > 0) {
      w.samples('flotilla_peer_bytes_sent_total', 'counter', 'Bytes sent to each peer.', peers.map(([peer, p]) => [{ ...n, peer }, p.bytesSent] as const));
      w.samples('flotilla_peer_bytes_received_total', 'counter', 'Bytes received from each peer.', peers.map(([peer, p]) => [{ ...n, peer }, p.bytesReceived] as const));
      w.samples('flotilla_peer_frames_sent_total', 'counter', 'Frames sent to each peer.', peers.map(([peer, p]) => [{ ...n, peer }, p.framesSent] as const));
      w.samples('flotilla_peer_frames_received_total', 'counter', 'Frames received from each peer.', peers.map(([peer, p]) => [{ ...n, peer }, p.framesReceived] as const));
      w.samples('flotilla_peer_connected', 'gauge', '1 if the connection to the peer is open.', peers.map(([peer, p]) => [{ ...n, peer }, p.connected ? 1 : 0] as const));
    }
  }
  for (const [name, [help, value]] of Object.entries(extra)) w.single(name, 'gauge', help, n, value);
  return w.text();
}

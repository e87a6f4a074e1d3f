import type { RaftNode } from '@flotilla/core';
import type { TransportStats } from '@flotilla/transport';

/** The node's state and counters in the Prometheus text exposition format (version 0.0.4). */
export function prometheusMetrics(node: Pick<RaftNode<unknown>, "status">, transport: TransportStats | undefined, extra: Record<string, number>): string {
  const status = node.status();
  const id = JSON.stringify(status.id);
  const lines: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number, labels = ''): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}{node=${id}${labels}} ${value}`);
  };
  metric('flotilla_term', 'gauge', 'Current Raft term.', status.term);
  metric('flotilla_is_leader', 'gauge', '1 if this node is the leader.', status.role === 'leader' ? 1 : 0);
  lines.push('# HELP flotilla_role 1 for the role this node has.', '# TYPE flotilla_role gauge');
  for (const role of ['follower', 'pre-candidate', 'candidate', 'leader']) lines.push(`flotilla_role{node=${id},role="${role}"} ${status.role === role ? 1 : 0}`);
  metric('flotilla_commit_index', 'gauge', 'Highest index known committed.', status.commitIndex);
  metric('flotilla_applied_index', 'gauge', 'Highest index applied to the state machine.', status.appliedIndex);
  metric('flotilla_last_index', 'gauge', 'Last index in the log.', status.lastIndex);
  metric('flotilla_persisted_index', 'gauge', 'Last index durable on this node.', status.persistedIndex);
  for (const p of status.progress) {
    lines.push(`flotilla_follower_match_index{node=${id},follower=${JSON.stringify(p.id)}} ${p.match}`);
  }
  if (transport) {
    metric('flotilla_transport_frames_sent_total', 'counter', 'Frames sent to peers.', transport.framesSent);
    metric('flotilla_transport_frames_received_total', 'counter', 'Frames received from peers.', transport.framesReceived);
    metric('flotilla_transport_bytes_sent_total', 'counter', 'Bytes sent to peers.', transport.bytesSent);
    metric('flotilla_transport_bytes_received_total', 'counter', 'Bytes received from peers.', transport.bytesReceived);
    metric('flotilla_transport_dropped_messages_total', 'counter', 'Messages dropped (link down, queue full).', transport.droppedMessages);
    metric('flotilla_transport_reconnects_total', 'counter', 'Reconnections to peers.', transport.reconnects);
    metric('flotilla_transport_open_connections', 'gauge', 'Peer connections open now.', transport.openConnections);
    const rejected = Object.values(transport.rejectedFrames).reduce((a, b) => a + (b ?? 0), 0);
    metric('flotilla_transport_rejected_frames_total', 'counter', 'Frames rejected as malformed or foreign.', rejected);
  }
  for (const [name, value] of Object.entries(extra)) metric(name, 'gauge', name.replace(/_/g, ' '), value);
  return lines.join('\n') + '\n';
}

import type { RaftNode, SnapshotMeta, SnapshotProgress } from '@flotilla/core';
import type { StorageObserver } from '@flotilla/storage';
import type { HttpHandler, HttpRequest } from '../http/server.js';
import { BATCH_BOUNDS, BucketHistogram, LATENCY_BOUNDS_SECONDS, RecentLatency } from './histogram.js';

/** A finished snapshot stream: direction and outcome. */
export type SnapshotTransferKey = 'send/ok' | 'send/failed' | 'receive/ok' | 'receive/rejected';

/** A KV write: what counts as a proposal made through this node's API. */
function isWrite(request: HttpRequest): boolean {
  if (!request.path.startsWith('/v1/kv/')) return false;
  return request.method === 'PUT' || request.method === 'DELETE' || (request.method === 'POST' && request.path.endsWith('/cas'));
}

/**
 * What one node measures about itself besides the protocol's status: proposals made through its
 * API (count, failures, latency since start and over the last second), the WAL's group commits
 * (write + fdatasync durations) and appends (entries and bytes per batch). Recording is a few
 * arithmetic operations per request or per storage batch.
 */
export class NodeMetrics {
  /** Latency of the KV writes this node answered 200, in seconds, from request to reply. */
  readonly proposalSeconds = new BucketHistogram(LATENCY_BOUNDS_SECONDS);
  /** KV writes that did not succeed (refused, timed out, bad request). */
  proposalFailures = 0;
  /** The same successful writes over the last second, for the dashboard (µs). */
  readonly recentProposals = new RecentLatency();
  /** Duration of each WAL group commit (pwritev + fdatasync), in seconds. */
  readonly walSyncSeconds = new BucketHistogram(LATENCY_BOUNDS_SECONDS);
  /** Entries per append handed to the WAL writer thread. */
  readonly appendBatchEntries = new BucketHistogram(BATCH_BOUNDS);
  appendedBytes = 0;
  /** Snapshots taken by this node (the log compacted below each). */
  snapshotsTaken = 0;
  /** Snapshots from a leader that replaced this node's state. */
  snapshotsRestored = 0;
  /** Index of the latest snapshot taken or restored here (0: none). */
  snapshotIndex = 0;
  /** Finished snapshot streams, by direction and outcome. */
  readonly snapshotTransfers: Record<SnapshotTransferKey, number> = { 'send/ok': 0, 'send/failed': 0, 'receive/ok': 0, 'receive/rejected': 0 };
  /** Bytes of snapshot streams that finished: acknowledged by the follower (send) or written and verified (receive). */
  snapshotBytesSent = 0;
  snapshotBytesReceived = 0;

  readonly storageObserver: StorageObserver = {
    appended: (entries, bytes) => {
      this.appendBatchEntries.observe(entries);
      this.appendedBytes += bytes;
    },
    synced: (syncs, seconds) => {
      // The writer reports a batch's group commits together: each is counted at their mean.
      const each = seconds / syncs;
      for (let i = 0; i < syncs; i++) this.walSyncSeconds.observe(each);
    },
  };

  /** Counts the node's snapshot events: taken, restored, and every finished stream. */
  observeSnapshots<R>(node: RaftNode<R>): void {
    const at = (meta: SnapshotMeta): void => {
      this.snapshotIndex = Math.max(this.snapshotIndex, meta.index);
    };
    node.on('snapshot', (meta) => {
      this.snapshotsTaken++;
      at(meta);
    });
    node.on('snapshotRestored', (meta) => {
      this.snapshotsRestored++;
      at(meta);
    });
    node.on('snapshotTransfer', (event: SnapshotProgress) => {
      switch (event.state) {
        case 'sent':
          this.snapshotTransfers['send/ok']++;
          this.snapshotBytesSent += event.bytes;
          break;
        case 'failed':
          this.snapshotTransfers['send/failed']++;
          break;
        case 'received':
          this.snapshotTransfers['receive/ok']++;
          this.snapshotBytesReceived += event.bytes;
          break;
        case 'rejected':
          this.snapshotTransfers['receive/rejected']++;
          break;
        default:
          break; // 'sending' and 'receiving' are progress within a stream
      }
    });
  }

  recordProposal(seconds: number, ok: boolean): void {
    if (!ok) {
      this.proposalFailures++;
      return;
    }
    this.proposalSeconds.observe(seconds);
    this.recentProposals.record(seconds * 1e6);
  }

  /** Wraps the KV API's handler to time its writes. */
  timeWrites(handler: HttpHandler): HttpHandler {
    return async (request) => {
      if (!isWrite(request)) return handler(request);
      const started = performance.now();
      try {
        const reply = await handler(request);
        this.recordProposal((performance.now() - started) / 1000, reply.status === 200);
        return reply;
      } catch (error) {
        this.recordProposal(0, false);
        throw error;
      }
    };
  }
}

export * from './types.js';
export * from './errors.js';
export type * from './storage.js';
export type * from './transport.js';
export type * from './state-machine.js';

export { Raft, type Ready, type Role, type SoftState, type RaftStatus } from './raft/raft.js';
export type { ReadState, ReadFailure, ReadFailureReason } from './raft/reads.js';
export { MembershipError, EMPTY_CONFIG, encodeConfig, decodeConfig, validateConfig } from './raft/config.js';
export { quorumActive } from './raft/quorum.js';
export type { SnapshotRequest } from './raft/raft.js';
export { DEFAULT_RAFT_OPTIONS, validateRaftOptions, type RaftOptions } from './raft/options.js';
export { SeededRandom } from './raft/random.js';

export {
  RaftNode,
  type RaftNodeOptions,
  type RaftNodeEvents,
  type ProposeResult,
  type ProposeOptions,
  type ReadOptions,
  type ReadConsistency,
  type NodeStatus,
  type ResultCodec,
  type MembershipOptions,
  defaultResultCodec,
} from './runtime/raft-node.js';
export { DEFAULT_TUNING, type RaftNodeTuning } from './runtime/options.js';
export { realScheduler, type Scheduler } from './runtime/scheduler.js';

export type { SnapshotProgress } from './runtime/snapshot-transfer.js';

export { MemoryStorage } from './memory/memory-storage.js';
export { MemorySnapshotStore } from './memory/memory-snapshot-store.js';
export { crc32c } from './memory/crc32c.js';
export { MemoryLog } from './memory/memory-log.js';
export { MemoryNetwork } from './memory/memory-transport.js';
export { EntryBuffer } from './memory/entry-buffer.js';

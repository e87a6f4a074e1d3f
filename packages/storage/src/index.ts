export { FileStorage, type FileStorageOptions, type RecoveryReport, type StorageObserver } from './file-storage.js';
export { decodeRecords, RECORD_HEADER_BYTES } from './records.js';
export { FileSnapshotStore } from './snapshots.js';
export { StorageIOError, LockedError, CorruptSnapshotError } from './errors.js';
export { encodeHardState, decodeHardState } from './hard-state.js';
export { native } from './native.js';
export { tuneAllocator, type AllocatorTuning, type AllocatorTuningResult } from './allocator.js';

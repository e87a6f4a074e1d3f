import type { NodeId } from './types.js';

/** Base class: every Flotilla error carries a stable `code` to branch on. */
export class FlotillaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** This node is not the leader. `leaderId` is the leader it knows of, or undefined. */
export class NotLeaderError extends FlotillaError {
  readonly leaderId: NodeId | undefined;
  /** The leader's address when the caller's transport knows it. */
  readonly leaderAddress: string | undefined;
  constructor(leaderId: NodeId | undefined, leaderAddress?: string) {
    super('NOT_LEADER', leaderId ? `not the leader; the leader is ${leaderId}` : 'not the leader; no leader is known');
    this.leaderId = leaderId;
    this.leaderAddress = leaderAddress;
  }
}

/** The operation did not finish in time. For proposals the outcome is unknown: it may still commit. */
export class TimeoutError extends FlotillaError {
  readonly outcomeUnknown: boolean;
  constructor(message: string, outcomeUnknown: boolean) {
    super('TIMEOUT', message);
    this.outcomeUnknown = outcomeUnknown;
  }
}

/** A bound was reached (uncommitted bytes, queue length); nothing was done, retry later. */
export class BusyError extends FlotillaError {
  constructor(message: string) {
    super('BUSY', message);
  }
}

/** A leadership transfer is in progress: the leader takes no proposals until it ends. */
export class TransferInProgressError extends FlotillaError {
  constructor(target: NodeId) {
    super('TRANSFER_IN_PROGRESS', `leadership is being transferred to ${target}`);
  }
}

/** The node lost leadership or stepped down before the operation completed. */
export class LeadershipLostError extends FlotillaError {
  constructor(message = 'leadership was lost before the operation completed; its outcome is unknown') {
    super('LEADERSHIP_LOST', message);
  }
}

/** The node is closed or closing. */
export class ClosedError extends FlotillaError {
  constructor(message = 'the node is closed') {
    super('CLOSED', message);
  }
}

/** A configuration value is invalid; `field` names it. */
export class ConfigError extends FlotillaError {
  readonly field: string;
  constructor(field: string, problem: string) {
    super('BAD_CONFIG', `${field}: ${problem}`);
    this.field = field;
  }
}

/** A log file failed verification at a position that cannot be a torn write. */
export class CorruptLogError extends FlotillaError {
  readonly file: string;
  readonly offset: number;
  constructor(file: string, offset: number, detail: string) {
    super('CORRUPT_LOG', `corrupt log ${file} at offset ${offset}: ${detail}`);
    this.file = file;
    this.offset = offset;
  }
}

/** Entries were asked for below the first index the log still holds (they were compacted). */
export class CompactedError extends FlotillaError {
  readonly firstIndex: number;
  constructor(index: number, firstIndex: number) {
    super('COMPACTED', `index ${index} is compacted; the log starts at ${firstIndex}`);
    this.firstIndex = firstIndex;
  }
}

/** A protocol invariant does not hold: a bug, never a user error. The node must stop. */
export class InvariantError extends FlotillaError {
  constructor(message: string) {
    super('INVARIANT', `invariant violated: ${message}`);
  }
}

export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

/** A committed user command, handed to the state machine in log order, exactly once. */
export interface Command {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
}

/**
 * The application's replicated state. `apply` receives every committed command in index order,
 * in batches, and returns one result per command (the value `propose` resolves with on the node
 * that proposed it). It must be deterministic: every node applies the same commands.
 */
export interface StateMachine<Result = unknown> {
  apply(commands: readonly Command[]): readonly Result[] | Promise<readonly Result[]>;
  /** Serialize the state as of the last applied command (for snapshots). */
  snapshot?(): AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** Replace the whole state with a serialized snapshot. */
  restore?(chunks: AsyncIterable<Uint8Array>): Promise<void>;
}

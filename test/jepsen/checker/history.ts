/** The client histories the checkers read. Times are monotonic milliseconds. */

export type Outcome = 'ok' | 'fail' | 'unknown';

/** One operation on a register (a key of the KV service). */
export type RegisterOp = {
  readonly id: number;
  /** The client (logical process) that issued it. */
  readonly process: number;
  readonly key: string;
  readonly call: number;
  /** When the client saw its outcome (for unknown outcomes: when it gave up). */
  readonly ret: number;
  /**
   * ok: done, with its result; fail: definitely not done (503, 4xx, connection refused before the
   * request was sent); unknown: may or may not have taken effect (504, connection lost, deadline).
   */
  readonly outcome: Outcome;
  /** The node the request was sent to (for reports only). */
  readonly node?: string;
  readonly error?: string;
} & (
  | { readonly f: 'read'; readonly value?: string | null }
  | { readonly f: 'write'; readonly value: string }
  | { readonly f: 'cas'; readonly expect: string | null; readonly value: string | null; readonly ok?: boolean }
  | { readonly f: 'delete'; readonly deleted?: boolean }
);

/** One operation on a list (list-append workload). */
export type ListOp = {
  readonly id: number;
  readonly process: number;
  readonly key: string;
  readonly call: number;
  readonly ret: number;
  readonly outcome: Outcome;
  readonly node?: string;
  readonly error?: string;
} & ({ readonly f: 'append'; readonly value: string } | { readonly f: 'read'; readonly list?: readonly string[] });

export function describeRegisterOp(op: RegisterOp, origin = 0): string {
  const t = (x: number): string => (x - origin).toFixed(1);
  const q = (v: string | null | undefined): string => (v === undefined ? '?' : JSON.stringify(v));
  const done = op.outcome === 'ok';
  let what: string;
  switch (op.f) {
    case 'read':
      what = `read → ${done ? q(op.value) : '?'}`;
      break;
    case 'write':
      what = `write ${q(op.value)}`;
      break;
    case 'cas':
      what = `cas ${q(op.expect)} → ${q(op.value)}: ${done ? (op.ok ? 'succeeded' : 'failed') : '?'}`;
      break;
    case 'delete':
      what = `delete: ${done ? (op.deleted ? 'deleted' : 'was absent') : '?'}`;
      break;
  }
  const outcome = done ? '' : `  [${op.outcome}${op.error ? `: ${op.error}` : ''}]`;
  return `#${op.id} p${op.process}${op.node ? `@${op.node}` : ''} [${t(op.call)}, ${op.outcome === 'unknown' ? '∞' : t(op.ret)}] ${op.key} ${what}${outcome}`;
}

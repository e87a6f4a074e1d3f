import { describeViolation } from './checker/index.js';
import type { JepsenReport } from './run.js';

/** The command that repeats a run: same seed, so the same nemesis schedule and client operations. */
export function reproduceCommand(report: Pick<JepsenReport, 'options'>): string {
  const o = report.options;
  const parts = ['npx -y pnpm@10 jepsen --', `--seed ${o.seed}`, `--time ${o.timeSec}`, `--workload ${o.workload}`, `--nemesis ${o.nemeses.length ? o.nemeses.join(',') : 'none'}`];
  if (o.clients !== undefined) parts.push(`--clients ${o.clients}`);
  if (o.keys !== undefined) parts.push(`--keys ${o.keys}`);
  if (o.opsPerKey !== undefined) parts.push(`--ops-per-key ${o.opsPerKey}`);
  if (o.rate !== undefined) parts.push(`--rate ${o.rate}`);
  if (o.deadlineMs !== undefined) parts.push(`--deadline-ms ${o.deadlineMs}`);
  if (o.overlap !== undefined && o.overlap !== 1) parts.push(`--overlap ${o.overlap}`);
  if (o.timing) parts.push(`--quiet-ms ${o.timing.quietMs.join('-')}`, `--fault-ms ${o.timing.faultMs.join('-')}`);
  if (o.coverEachNemesis) parts.push('--cover-each');
  if (o.consistency && o.consistency !== 'linearizable') parts.push(`--consistency ${o.consistency}`);
  if (o.fastFollowerClocks !== undefined) parts.push(`--fast-follower-clocks ${o.fastFollowerClocks}`);
  if (o.unsafeReads) parts.push('--unsafe-reads');
  if (o.unsafeAcks) parts.push('--unsafe-acks');
  return parts.join(' ');
}

/** A readable summary of a run, with the violations found (at most `maxViolations` keys). */
export function summarize(report: JepsenReport, maxViolations = 3): string {
  const o = report.options;
  const lines: string[] = [];
  lines.push(
    `workload ${o.workload}, seed ${o.seed}, ${o.timeSec} s, nemeses ${o.nemeses.join(', ') || 'none'}${o.consistency === 'lease' ? ', lease reads' : ''}${o.overlap && o.overlap > 1 ? `, ${o.overlap} overlapping fault schedules` : ''}${o.fastFollowerClocks ? `, follower clocks ${o.fastFollowerClocks}× faster` : ''}${o.unsafeReads ? ', UNSAFE local reads' : ''}${o.unsafeAcks ? ', UNSAFE early acks' : ''}`,
  );
  lines.push(`run took ${(report.durationMs / 1000).toFixed(1)} s (clients ${(report.clientPhaseMs / 1000).toFixed(1)} s)`);
  lines.push(`operations: ${report.ops.total} (ok ${report.ops.ok}, fail ${report.ops.fail}, unknown ${report.ops.unknown}) on ${report.keys} keys`);
  lines.push(`  ${Object.entries(report.ops.byKind).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  const counts = Object.entries(report.nemesis.counts);
  lines.push(`faults: ${counts.length ? counts.map(([k, n]) => `${k} ×${n}`).join(', ') : 'none'}`);
  for (const e of report.nemesis.events.filter((e) => e.detail.startsWith('not available'))) lines.push(`  ${e.nemesis}: ${e.detail}`);
  const v = report.verify;
  lines.push(`verify: ${v.agree ? `all ${Object.keys(v.digests).length} nodes have digest ${Object.values(v.digests)[0]?.slice(0, 16)} at index ${v.index}` : `DIGESTS DIFFER or missing at index ${v.index}: ${JSON.stringify(v.digests)}`}${v.converged ? '' : ' (applied indexes did not converge)'}`);
  if (report.unreadKeys.length) lines.push(`final reads FAILED for ${report.unreadKeys.length} keys: ${report.unreadKeys.slice(0, 10).join(', ')}`);
  if (report.register) {
    const keys = report.register.keys;
    const n = (outcome: string): number => keys.filter((k) => k.outcome === outcome).length;
    const steps = keys.reduce((a, k) => a + k.steps, 0);
    lines.push(`linearizability: ${keys.length} keys: ${n('ok')} ok, ${n('illegal')} not linearizable, ${n('unknown')} unknown (gave up); ${steps} search steps`);
    for (const k of keys.filter((k) => k.outcome === 'unknown').slice(0, maxViolations)) lines.push(`  ${k.key}: ${k.reason} (${k.ops} operations)`);
    for (const k of keys.filter((k) => k.violation).slice(0, maxViolations)) lines.push(describeViolation(k.violation!, report.origin));
  }
  if (report.listAppend) {
    const l = report.listAppend;
    lines.push(`list-append: ${l.keys} keys, ${l.acknowledgedAppends} acknowledged appends; ${l.valid ? 'no anomalies' : `anomalies: ${Object.entries(l.counts).map(([k, n]) => `${k} ×${n}`).join(', ')}`}`);
    for (const a of l.anomalies.slice(0, 3 * maxViolations)) lines.push(`  ${a.kind} on ${a.key}: ${a.message}`);
  }
  lines.push(report.valid === true ? 'VALID' : report.valid === false ? 'NOT VALID' : 'UNKNOWN (the checker gave up on some key)');
  lines.push(`reproduce: ${reproduceCommand(report)}`);
  return lines.join('\n');
}

/**
 * Reads sent to a node while the nemesis had it paused (SIGSTOP) that it answered with a value
 * after it woke up: the reads a paused leader could answer from a lease it no longer holds.
 */
export function readsAnsweredAcrossPauses(report: Pick<JepsenReport, 'nemesis' | 'history' | 'origin'>): number {
  const events = report.nemesis.events;
  let count = 0;
  for (const [i, e] of events.entries()) {
    const node = /^SIGSTOP (\S+)/.exec(e.detail)?.[1];
    if (e.nemesis !== 'pause-leader' || !node) continue;
    const resumed = events.slice(i + 1).find((x) => x.detail === `SIGCONT ${node}`);
    if (!resumed) continue;
    count += report.history.filter((op) => op.f === 'read' && op.outcome === 'ok' && op.node === node && op.call - report.origin > e.at && op.call - report.origin < resumed.at && op.ret - report.origin > resumed.at).length;
  }
  return count;
}

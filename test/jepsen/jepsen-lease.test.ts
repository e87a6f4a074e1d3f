// Lease reads (?consistency=lease) under SIGSTOP of the leader. The node's lease clock is the
// monotonic clock, which keeps running while the process is stopped, so a leader that wakes up
// knows its lease ran out (see README "Jepsen-style tests" for when lease reads can go stale).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readsAnsweredAcrossPauses, summarize } from './report.js';
import { runJepsen } from './run.js';
import { runUntilCaught, TEST_TIMING, testLog, testSeed } from './support.js';

test('lease reads while the leader is paused and resumed (or cut off): linearizable, including reads the paused leader answered on waking', async () => {
  const report = await runJepsen({ timeSec: 20, seed: testSeed(), workload: 'register', nemeses: ['pause-leader', 'partition-leader'], consistency: 'lease', timing: TEST_TIMING, coverEachNemesis: true, log: testLog });
  const summary = summarize(report);
  assert.equal(report.valid, true, summary);
  assert.ok((report.nemesis.counts['pause-leader'] ?? 0) >= 2, summary);
  // The dangerous case happened: reads sent to a paused leader, answered after it woke.
  const across = readsAnsweredAcrossPauses(report);
  assert.ok(across > 0, `no read spanned a pause\n${summary}`);
  console.log(`${summary}\nreads sent to a paused leader and answered after it woke: ${across}`);
});

test('the same run with reads served from local state (UNSAFE switch) is caught', async () => {
  const { report, missed } = await runUntilCaught({ timeSec: 12, workload: 'register', nemeses: ['pause-leader'], consistency: 'lease', unsafeReads: true, timing: TEST_TIMING, log: testLog }, (r) => !r.valid);
  const summary = [...missed, summarize(report)].join('\n');
  assert.equal(report.valid, false, summary);
  console.log(summary);
});

test("lease reads when the followers' clocks run 3× faster than the leader's (beyond the stated drift bound): stale reads are caught", async () => {
  const { report, missed } = await runUntilCaught(
    { timeSec: 12, workload: 'register', nemeses: ['partition-leader'], consistency: 'lease', fastFollowerClocks: 3, timing: TEST_TIMING, log: testLog },
    (r) => r.register!.keys.some((k) => k.outcome === 'illegal'),
  );
  const summary = [...missed, summarize(report)].join('\n');
  assert.equal(report.valid, false, summary);
  const illegal = report.register!.keys.filter((k) => k.outcome === 'illegal');
  assert.ok(illegal.length > 0, summary);
  // Only the slow-clock node can hold a lease past the others' election timeout, so each proof holds a
  // read answered by it while it was cut off. (Leadership is moved back to it after every fault, but
  // a fault may still catch another node leading, so which node was isolated each time varies.)
  const home = report.homeLeader;
  assert.ok(home !== undefined, summary);
  const isolated = report.nemesis.events.filter((e) => e.nemesis === 'partition-leader').map((e) => /^isolate (\S+)/.exec(e.detail)?.[1]);
  assert.ok(isolated.includes(home), `${home} was never isolated\n${summary}`);
  for (const k of illegal) assert.ok(k.violation!.window.some(({ op }) => op.f === 'read' && op.node === home), summary);
  console.log(summary);
});

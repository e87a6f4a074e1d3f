// The suite must catch a broken service: each UNSAFE test switch of the KV service, under the
// nemesis that exposes it, must be reported (and with the switches off the same runs pass: see
// jepsen.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarize } from './report.js';
import { runUntilCaught, TEST_TIMING, testLog } from './support.js';

test('UNSAFE local reads, leader partitioned away: the checker reports reads that are not linearizable', async () => {
  const { report, missed } = await runUntilCaught({ timeSec: 12, workload: 'register', nemeses: ['partition-leader'], unsafeReads: true, timing: TEST_TIMING, log: testLog }, (r) => r.register!.keys.some((k) => k.outcome === 'illegal'));
  const summary = [...missed, summarize(report)].join('\n');
  assert.equal(report.valid, false, summary);
  const illegal = report.register!.keys.filter((k) => k.outcome === 'illegal');
  assert.ok(illegal.length > 0, summary);
  // A stale read: every failing window holds a read.
  for (const k of illegal) assert.ok(k.violation!.window.some(({ op }) => op.f === 'read'), summary);
  // The replicated state itself is fine: only the reads lied.
  assert.ok(report.verify.agree, summary);
  console.log(summary);
});

test('UNSAFE early acknowledgements, leader killed: the checker reports lost writes (register) and lost appends (list-append)', async () => {
  const { report: register, missed } = await runUntilCaught({ timeSec: 12, workload: 'register', nemeses: ['kill-leader'], unsafeAcks: true, timing: TEST_TIMING, log: testLog }, (r) => r.register!.keys.some((k) => k.outcome === 'illegal'));
  const summary = [...missed, summarize(register)].join('\n');
  assert.equal(register.valid, false, summary);
  assert.ok(register.register!.keys.some((k) => k.outcome === 'illegal'), summary);
  console.log(summary);

  const { report: list, missed: listMissed } = await runUntilCaught({ timeSec: 12, workload: 'list-append', nemeses: ['kill-leader'], unsafeAcks: true, timing: TEST_TIMING, log: testLog }, (r) => (r.listAppend!.counts['lost'] ?? 0) > 0);
  const listSummary = [...listMissed, summarize(list)].join('\n');
  assert.equal(list.valid, false, listSummary);
  assert.ok((list.listAppend!.counts['lost'] ?? 0) > 0, `acknowledged appends are missing from the final lists\n${listSummary}`);
  console.log(listSummary);
});

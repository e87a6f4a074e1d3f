// The suite must catch a broken service: each UNSAFE test switch of the KV service, under the
// nemesis that exposes it, must be reported (and with the switches off the same runs pass: see
// jepsen.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarize } from './report.js';
import { runJepsen } from './run.js';
import { TEST_TIMING, testLog, testSeed } from './support.js';

test('UNSAFE local reads, leader partitioned away: the checker reports reads that are not linearizable', async () => {
  const report = await runJepsen({ timeSec: 12, seed: testSeed(), workload: 'register', nemeses: ['partition-leader'], unsafeReads: true, timing: TEST_TIMING, log: testLog });
  const summary = summarize(report);
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
  const register = await runJepsen({ timeSec: 12, seed: testSeed(), workload: 'register', nemeses: ['kill-leader'], unsafeAcks: true, timing: TEST_TIMING, log: testLog });
  const summary = summarize(register);
  assert.equal(register.valid, false, summary);
  assert.ok(register.register!.keys.some((k) => k.outcome === 'illegal'), summary);
  console.log(summary);

  const list = await runJepsen({ timeSec: 12, seed: testSeed(), workload: 'list-append', nemeses: ['kill-leader'], unsafeAcks: true, timing: TEST_TIMING, log: testLog });
  const listSummary = summarize(list);
  assert.equal(list.valid, false, listSummary);
  assert.ok((list.listAppend!.counts['lost'] ?? 0) > 0, `acknowledged appends are missing from the final lists\n${listSummary}`);
  console.log(listSummary);
});

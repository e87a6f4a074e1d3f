// Short Jepsen-style runs against a real 3-process KV cluster (see README "Jepsen-style tests").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AVAILABLE_NEMESES } from './nemesis.js';
import { summarize } from './report.js';
import { runJepsen } from './run.js';
import { TEST_TIMING, testLog, testSeed } from './support.js';

test('register workload under every nemesis: linearizable, the nodes agree, membership reported as not available', async () => {
  const report = await runJepsen({
    timeSec: 30,
    seed: testSeed(),
    workload: 'register',
    nemeses: [...AVAILABLE_NEMESES, 'membership'],
    timing: TEST_TIMING,
    coverEachNemesis: true,
    log: testLog,
  });
  const summary = summarize(report);
  assert.equal(report.valid, true, summary);
  for (const name of AVAILABLE_NEMESES) assert.ok((report.nemesis.counts[name] ?? 0) >= 1, `${name} struck\n${summary}`);
  assert.ok(report.nemesis.events.some((e) => e.nemesis === 'membership' && /not available/.test(e.detail)), summary);
  assert.equal(report.nemesis.counts['membership'], undefined, 'membership is never faked');
  assert.ok(report.verify.agree && report.verify.converged, summary);
  assert.ok(report.ops.ok > 1000, `only ${report.ops.ok} operations succeeded\n${summary}`);
  assert.ok(report.ops.fail + report.ops.unknown > 0, `the faults were felt\n${summary}`);
  assert.ok(report.register!.keys.length > 5, 'keys were rotated');
  console.log(summary);
});

test('list-append workload under kills, pauses and partitions: no acknowledged append lost, duplicated or reordered', async () => {
  const nemeses = ['kill-leader', 'pause-leader', 'partition-leader', 'partition-one-way'] as const;
  const report = await runJepsen({ timeSec: 20, seed: testSeed(), workload: 'list-append', nemeses: [...nemeses], timing: TEST_TIMING, coverEachNemesis: true, log: testLog });
  const summary = summarize(report);
  assert.equal(report.valid, true, summary);
  assert.ok(report.listAppend!.acknowledgedAppends > 300, summary);
  for (const name of nemeses) assert.ok((report.nemesis.counts[name] ?? 0) >= 1, `${name} struck\n${summary}`);
  console.log(summary);
});

// Short Jepsen-style runs against a real 3-process KV cluster (see README "Jepsen-style tests").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AVAILABLE_NEMESES, NEMESES, UNAVAILABLE, type NemesisEvent } from './nemesis.js';
import { summarize } from './report.js';
import { runJepsen } from './run.js';
import { TEST_TIMING, testLog, testSeed } from './support.js';

test('register workload under every nemesis: linearizable, the nodes agree, a nemesis that cannot run is reported, never faked', async () => {
  const report = await runJepsen({
    timeSec: 30,
    seed: testSeed(),
    workload: 'register',
    nemeses: [...NEMESES],
    timing: TEST_TIMING,
    coverEachNemesis: true,
    log: testLog,
  });
  const summary = summarize(report);
  assert.equal(report.valid, true, summary);
  for (const name of AVAILABLE_NEMESES) assert.ok((report.nemesis.counts[name] ?? 0) >= 1, `${name} struck\n${summary}`);
  for (const name of NEMESES.filter((n) => UNAVAILABLE[n])) {
    assert.ok(report.nemesis.events.some((e) => e.nemesis === name && /not available/.test(e.detail)), summary);
    assert.equal(report.nemesis.counts[name], undefined, `${name} is never faked`);
  }
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

/** The most faults in force at once, from a run's events (each repaired fault records one heal event). */
function mostFaultsAtOnce(events: readonly NemesisEvent[]): number {
  let open = 0;
  let most = 0;
  for (const e of events) {
    if (e.nemesis !== 'heal' && e.nemesis !== 'transfer' && !/not available/.test(e.detail)) open++;
    else if (e.nemesis === 'heal' && /^(restarted|SIGCONT|partitions healed)/.test(e.detail)) open = Math.max(0, open - 1);
    most = Math.max(most, open);
  }
  return most;
}

test('register workload under two overlapping fault schedules (combined nemeses): linearizable, the nodes agree', async () => {
  const report = await runJepsen({ timeSec: 20, seed: testSeed(), workload: 'register', nemeses: [...AVAILABLE_NEMESES], overlap: 2, timing: TEST_TIMING, coverEachNemesis: true, log: testLog });
  const summary = summarize(report);
  assert.equal(report.valid, true, summary);
  assert.ok(mostFaultsAtOnce(report.nemesis.events) >= 2, `no two faults overlapped\n${summary}\n${report.nemesis.events.map((e) => `${e.at} ${e.nemesis}: ${e.detail}`).join('\n')}`);
  for (const name of AVAILABLE_NEMESES) assert.ok((report.nemesis.counts[name] ?? 0) >= 1, `${name} struck\n${summary}`);
  assert.ok(report.verify.agree && report.verify.converged, summary);
  // The faults in order with their times, so that a run short of successes shows where the
  // cluster stood still.
  const timeline = report.nemesis.events.map((e) => `${e.at} ${e.nemesis}: ${e.detail}`).join('\n');
  assert.ok(report.ops.ok > 500, `only ${report.ops.ok} operations succeeded\n${summary}\n${timeline}`);
  console.log(summary);
});

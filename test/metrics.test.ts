import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePorts } from '@flotilla/examples';
import { BucketHistogram } from '../packages/examples/src/metrics/histogram.js';
import { PrometheusWriter } from '../packages/examples/src/metrics/prometheus.js';
import { parsePrometheus, valueOf } from './support/prometheus.js';
import { withCluster } from './support/with-cluster.js';

test('the Prometheus writer escapes label values and HELP text, and its histograms parse', () => {
  const h = new BucketHistogram([0.001, 0.01, 0.1]);
  for (const v of [0.0005, 0.005, 0.005, 0.05, 5]) h.observe(v);
  const text = new PrometheusWriter()
    .single('weird_total', 'counter', 'Help with a \\ backslash\nand a newline.', { peer: 'a"b\\c\nd' }, 3)
    .samples('empty', 'gauge', 'A family without samples.', [])
    .histogram('h_seconds', 'A histogram.', { node: 'n1' }, h)
    .text();
  assert.match(text, /^weird_total\{peer="a\\"b\\\\c\\nd"\} 3$/m);
  assert.match(text, /^# HELP weird_total Help with a \\\\ backslash\\nand a newline\.$/m);
  const families = parsePrometheus(text);
  assert.equal(families.get('weird_total')!.samples[0]!.labels['peer'], 'a"b\\c\nd');
  assert.equal(valueOf(families, 'h_seconds', 'h_seconds_bucket', { le: '0.01' }), 3);
  assert.equal(valueOf(families, 'h_seconds', 'h_seconds_bucket', { le: '+Inf' }), 5);
  assert.equal(valueOf(families, 'h_seconds', 'h_seconds_count'), 5);
  assert.ok(Math.abs(valueOf(families, 'h_seconds', 'h_seconds_sum') - 5.0605) < 1e-9);
  assert.throws(() => new PrometheusWriter().single('a', 'gauge', 'x', {}, 1).single('a', 'gauge', 'x', {}, 2), /written twice/);
  // The parser is strict: it refuses what a scraper would.
  assert.throws(() => parsePrometheus('x 1\n'), /before any HELP\/TYPE/);
  assert.throws(() => parsePrometheus('# HELP x y\n# TYPE x gauge\nx{a="\\q"} 1\n'), /bad escape/);
});

test('/metrics of running KV nodes parses, and its counters follow the work done', { timeout: 120_000 }, async () => {
  await withCluster({ size: 3, service: 'kv' }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const url = (id: string): string => `http://${cluster.configs.get(id)!.httpAddress}`;
    const scrape = async (id: string): Promise<ReturnType<typeof parsePrometheus>> => {
      const response = await fetch(`${url(id)}/metrics`);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      return parsePrometheus(await response.text());
    };
    const writes = 50;
    for (let i = 0; i < writes; i++) assert.equal((await fetch(`${url(leader)}/v1/kv/key-${i}`, { method: 'PUT', body: 'x'.repeat(128) })).status, 200);
    assert.equal((await fetch(`${url(leader)}/v1/kv/bad/cas`, { method: 'POST', body: 'not json' })).status, 400);
    const m = await scrape(leader);
    const node = { node: leader };
    assert.equal(valueOf(m, 'flotilla_is_leader', 'flotilla_is_leader', node), 1);
    assert.equal(valueOf(m, 'flotilla_role', 'flotilla_role', { ...node, role: 'leader' }), 1);
    assert.ok(valueOf(m, 'flotilla_term', 'flotilla_term', node) >= 1);
    const commit = valueOf(m, 'flotilla_commit_index', 'flotilla_commit_index', node);
    assert.ok(commit >= writes + 1, `commit ${commit}`);
    assert.ok(valueOf(m, 'flotilla_applied_index', 'flotilla_applied_index', node) <= commit);
    assert.equal(valueOf(m, 'flotilla_proposals_total', 'flotilla_proposals_total', node), writes);
    assert.equal(valueOf(m, 'flotilla_proposal_failures_total', 'flotilla_proposal_failures_total', node), 1);
    assert.equal(valueOf(m, 'flotilla_proposal_duration_seconds', 'flotilla_proposal_duration_seconds_count', node), writes);
    assert.ok(valueOf(m, 'flotilla_proposal_duration_seconds', 'flotilla_proposal_duration_seconds_sum', node) > 0);
    // Every committed entry went through an append batch; every batch was synced.
    const syncs = valueOf(m, 'flotilla_wal_sync_duration_seconds', 'flotilla_wal_sync_duration_seconds_count', node);
    assert.ok(syncs >= writes, `syncs ${syncs}`);
    assert.ok(valueOf(m, 'flotilla_wal_sync_duration_seconds', 'flotilla_wal_sync_duration_seconds_sum', node) > 0);
    assert.ok(valueOf(m, 'flotilla_wal_append_batch_entries', 'flotilla_wal_append_batch_entries_count', node) >= 1);
    assert.ok(valueOf(m, 'flotilla_wal_appended_bytes_total', 'flotilla_wal_appended_bytes_total', node) >= writes * 128);
    for (const peer of cluster.ids.filter((id) => id !== leader)) {
      assert.ok(valueOf(m, 'flotilla_peer_bytes_sent_total', 'flotilla_peer_bytes_sent_total', { ...node, peer }) > writes * 128);
      assert.ok(valueOf(m, 'flotilla_peer_bytes_received_total', 'flotilla_peer_bytes_received_total', { ...node, peer }) > 0);
      assert.equal(valueOf(m, 'flotilla_peer_connected', 'flotilla_peer_connected', { ...node, peer }), 1);
      assert.ok(valueOf(m, 'flotilla_follower_match_index', 'flotilla_follower_match_index', { ...node, follower: peer }) >= writes);
    }
    assert.equal(valueOf(m, 'flotilla_transport_rejected_frames_total', 'flotilla_transport_rejected_frames_total', node), 0);
    assert.equal(valueOf(m, 'flotilla_kv_keys', 'flotilla_kv_keys', node), writes);
    // A follower: not leader, the same commit eventually, its own counters.
    const follower = cluster.ids.find((id) => id !== leader)!;
    const f = await scrape(follower);
    assert.equal(valueOf(f, 'flotilla_is_leader', 'flotilla_is_leader', { node: follower }), 0);
    assert.equal(valueOf(f, 'flotilla_proposals_total', 'flotilla_proposals_total', { node: follower }), 0);
    assert.ok(valueOf(f, 'flotilla_wal_sync_duration_seconds', 'flotilla_wal_sync_duration_seconds_count', { node: follower }) >= 1);
  });
});

const BIN = fileURLToPath(new URL('../packages/examples/bin/flotilla.mjs', import.meta.url));

test('flotilla start logs JSON lines to stdout at --log-level: listening, state changes, stopping', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-log-'));
  const [raft, http] = await freePorts(2);
  const start = (level: string) => {
    const child = spawn(process.execPath, [BIN, 'start', '--id', 'n1', '--cluster-id', 'c', '--secret', 's', '--raft-address', `127.0.0.1:${raft}`, '--http-address', `127.0.0.1:${http}`, '--data-dir', dir, '--log-level', level], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, exited, lines: () => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) };
  };
  try {
    const debug = start('debug');
    const deadline = Date.now() + 30_000;
    while (!debug.lines().some((l) => l['event'] === 'state' && l['role'] === 'leader')) {
      assert.ok(Date.now() < deadline, `no leader logged: ${JSON.stringify(debug.lines())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    debug.child.kill('SIGTERM');
    assert.equal(await debug.exited, 0);
    const lines = debug.lines();
    for (const line of lines) {
      assert.equal(line['node'], 'n1');
      assert.ok(['debug', 'info', 'warn', 'error'].includes(line['level'] as string), JSON.stringify(line));
      assert.ok(!Number.isNaN(Date.parse(line['time'] as string)), JSON.stringify(line));
    }
    const events = lines.map((l) => l['event']);
    assert.ok(events.includes('listening') && events.includes('leader') && events.includes('stopping') && events.includes('stopped'), JSON.stringify(events));
    assert.equal(lines.find((l) => l['event'] === 'listening')!['httpAddress'], `127.0.0.1:${http}`);

    // At warn nothing of that is logged.
    const quiet = start('warn');
    const until = Date.now() + 30_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${http}/v1/status`).then((r) => r.json() as Promise<{ role: string }>, () => undefined);
      if (status?.role === 'leader') break;
      assert.ok(Date.now() < until, 'the node at warn did not become leader');
      await new Promise((r) => setTimeout(r, 100));
    }
    quiet.child.kill('SIGTERM');
    assert.equal(await quiet.exited, 0);
    assert.deepEqual(quiet.lines(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

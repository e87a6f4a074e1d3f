import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../packages/examples/bin/flotilla.mjs', import.meta.url));

function flotilla(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = [0, 1, 2, 100, 101, 102].map((o) => base + o);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

test('flotilla cluster starts a local cluster that the CLI can use, and stops every node on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-cli-'));
  const base = await freeBasePort();
  const cluster = spawn(process.execPath, [BIN, 'cluster', '--nodes', '3', '--base-port', String(base), '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  cluster.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => cluster.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 30_000;
    while (!/leader: n\d/.test(output)) {
      assert.ok(Date.now() < deadline, `no leader announced:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(output, new RegExp(`n1: raft 127\\.0\\.0\\.1:${base}\\s+http http://127\\.0\\.0\\.1:${base + 100}`));
    // The dashboard URL is printed and serves the page; its control port is the launcher's.
    assert.match(output, new RegExp(`dashboard: http://127\\.0\\.0\\.1:${base + 100}/`));
    const page = await fetch(`http://127.0.0.1:${base + 100}/`);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /<title>Flotilla dashboard<\/title>/);
    const dashboard = (await (await fetch(`http://127.0.0.1:${base + 101}/v1/dashboard`)).json()) as { control: { url: string; token: string } | null };
    assert.ok(dashboard.control, 'flotilla cluster offers stop/start');
    const nodes = (await (await fetch(`${dashboard.control.url}/v1/nodes?token=${dashboard.control.token}`)).json()) as { nodes: { id: string; running: boolean }[] };
    assert.deepEqual(nodes.nodes.map((n) => [n.id, n.running]), [['n1', true], ['n2', true], ['n3', true]]);
    assert.equal((await fetch(`${dashboard.control.url}/v1/nodes/n1/stop?token=wrong`, { method: 'POST' })).status, 403);
    const endpoints = ['--endpoints', [100, 101, 102].map((o) => `127.0.0.1:${base + o}`).join(',')];
    const put = await flotilla(['put', 'greeting', 'hello', ...endpoints]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /"index": \d+/);
    const get = await flotilla(['get', 'greeting', ...endpoints]);
    assert.equal(get.stdout.trim(), 'hello');
    const missing = await flotilla(['get', 'nothing', ...endpoints]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /not_found/);
    const status = await flotilla(['status', ...endpoints]);
    assert.equal(status.code, 0);
    assert.equal(status.stdout.trim().split('\n').length, 3);
    const verify = await flotilla(['verify', ...endpoints]);
    assert.equal(verify.code, 0, verify.stdout);
    assert.match(verify.stdout, /all 3 answering nodes agree/);
    const transfer = await flotilla(['transfer', 'n3', ...endpoints]);
    assert.equal(transfer.code, 0, transfer.stdout);
    assert.match(transfer.stdout, /"leader": "n3"/);
    // join without the new member's id and addresses is a usage error.
    const join_ = await flotilla(['join', ...endpoints]);
    assert.equal(join_.code, 2);
  } finally {
    cluster.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0);
    for (const offset of [0, 1, 2, 100, 101, 102]) assert.ok(await portFree(base + offset), `port ${base + offset} released`);
    await rm(dir, { recursive: true, force: true });
  }
});

test('flotilla start refuses a bad configuration and names the key', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-cli-config-'));
  try {
    const file = join(dir, 'node.json');
    await writeFile(file, JSON.stringify({ id: 'n1', clusterId: 'c', secret: 's', raftAddress: '127.0.0.1:7001', httpAddress: '127.0.0.1:7101', dataDir: dir, electionTimeoutMs: 50, heartbeatIntervalMs: 100 }));
    const tooShort = await flotilla(['start', '--config', file]);
    assert.equal(tooShort.code, 2);
    assert.match(tooShort.stderr, /electionTimeoutMs/);
    const badFlag = await flotilla(['start', '--config', file, '--raft-address', 'nowhere']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /raftAddress: must be host:port/);
    const unknownKey = await flotilla(['start', '--config', file, '--colour', 'blue']);
    assert.equal(unknownKey.code, 2);
    assert.match(unknownKey.stderr, /colour: is not a known option/);
    await writeFile(file, '{ not json');
    const notJson = await flotilla(['start', '--config', file]);
    assert.equal(notJson.code, 2);
    assert.match(notJson.stderr, /config: .* is not valid JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

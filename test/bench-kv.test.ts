import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ETCD = existsSync('/usr/bin/etcd');

interface Level {
  concurrency: number;
  completed: number;
  errors: number;
  putsPerSec: number;
  p50Us: number;
  p99Us: number;
}

test(`pnpm bench:kv runs the KV service${ETCD ? ' and etcd' : ''} under closed-loop HTTP clients and writes its JSON`, { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-kv-test-'));
  const json = join(dir, 'kv.json');
  try {
    // What `pnpm bench:kv -- ...` runs (the root package.json script), briefly.
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--conditions=flotilla-source', 'benchmarks/src/kv/main.ts', '--seconds', '1', '--warmup-seconds', '0.3', '--levels', '1,8', '--json', json],
        { cwd: ROOT, timeout: 150_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${out}\n${err}`)) : resolve({ stdout: out })),
      );
    });
    const report = JSON.parse(await readFile(json, 'utf8')) as { levels: number[]; flotilla: Level[]; etcd: { version: string; results: Level[] } | null };
    assert.deepEqual(report.levels, [1, 8]);
    const check = (levels: Level[]): void => {
      assert.deepEqual(levels.map((l) => l.concurrency), [1, 8]);
      for (const l of levels) {
        assert.ok(l.completed > 0 && l.putsPerSec > 0, JSON.stringify(l));
        assert.equal(l.errors, 0, JSON.stringify(l));
        assert.ok(l.p50Us > 0 && l.p99Us >= l.p50Us, JSON.stringify(l));
      }
    };
    check(report.flotilla);
    if (ETCD) {
      assert.ok(report.etcd, 'etcd is installed, so it was measured');
      check(report.etcd.results);
      assert.match(stdout, /KV service vs etcd/);
      assert.match(stdout, /^\s*8\s+.*×\s+\S+×$/m);
    } else {
      assert.equal(report.etcd, null);
      assert.match(stdout, /etcd is not installed \(\/usr\/bin\/etcd is missing\), so only Flotilla was measured/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the load generator's HTTP/1.1 response parser: lengths, chunks, partial input", async () => {
  const { parseResponse } = await import('../benchmarks/src/kv/http1.js');
  const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}HTTP/1.1');
  assert.deepEqual(parseResponse(ok), { status: 200, body: '{"a":1}', end: ok.indexOf('HTTP/1.1', 5) });
  assert.equal(parseResponse(ok.subarray(0, 40)), undefined);
  assert.equal(parseResponse(ok.subarray(0, ok.indexOf('{') + 3)), undefined);
  const chunked = Buffer.from('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n3\r\n!!!\r\n0\r\n\r\n');
  assert.deepEqual(parseResponse(chunked), { status: 503, body: 'busy!!!', end: chunked.byteLength });
  assert.equal(parseResponse(chunked.subarray(0, chunked.byteLength - 2)), undefined);
  assert.deepEqual(parseResponse(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), { status: 204, body: '', end: 27 });
  assert.equal(parseResponse(Buffer.from('SMTP ready\r\n\r\n')), 'bad');
  assert.equal(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody')), 'bad');
});

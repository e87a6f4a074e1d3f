import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const node = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--conditions=flotilla-source', ...args], {
    cwd: packageDir,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });

test('the fuzzer runs and reports iterations and failures', () => {
  const result = node(['scripts/fuzz.ts', '--', '--iterations', '3000', '--seed', '7']);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^fuzz: 3000 iterations, 0 failures$/m);
});

test('start fails loudly when uWebSockets.js falls back to its JavaScript shim', () => {
  const script = [
    "import { WebSocketTransport } from './src/index.ts';",
    "const t = new WebSocketTransport({ id: 'a', clusterId: 'c', secret: 's', listen: { host: '127.0.0.1', port: 0 } });",
    'try { await t.start({ receive() {}, peerUnreachable() {} }); console.log("started"); await t.close(); }',
    'catch (e) { console.log(String(e)); }',
  ].join('\n');
  const result = node(['--input-type=module', '-e', script], { UWS_USE_FALLBACK: '1' });
  assert.match(result.stdout, /JavaScript fallback instead of the native binary/, result.stdout + result.stderr);
});

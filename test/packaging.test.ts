import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(command: string, args: string[], cwd: string, timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// Users install @flotilla/core and @flotilla/transport (and @flotilla/storage) on their own, with
// plain npm, outside this workspace: pack them, install the tarballs into an empty project, and run
// the README's embedding example there.
test('the packages install from their tarballs with npm and the embedding example runs', { timeout: 600_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'flotilla-pack-'));
  try {
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
    await run(npx, ['-y', 'pnpm@10', '--filter', '@flotilla/core', '--filter', '@flotilla/transport', '--filter', '@flotilla/storage', 'run', 'build'], ROOT);
    const tarballs = join(work, 'tarballs');
    for (const dir of ['packages/core', 'packages/transport', 'packages/storage', 'native']) {
      await run(npx, ['-y', 'pnpm@10', 'pack', '--pack-destination', tarballs], join(ROOT, dir));
    }
    const app = join(work, 'app');
    await run('mkdir', ['-p', app], work);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'embedding-app', private: true, type: 'module' }));
    // This machine cannot download Node headers; use the local ones for the native addon.
    await writeFile(join(app, '.npmrc'), 'nodedir=/usr\n');
    const files = (await readdir(tarballs)).map((f) => join(tarballs, f));
    assert.equal(files.length, 4);
    await run('npm', ['install', '--no-audit', '--no-fund', ...files], app);

    const core = JSON.parse(await readFile(join(app, 'node_modules/@flotilla/core/package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(core['dependencies'], undefined, '@flotilla/core has no runtime dependency');

    await copyFile(join(ROOT, 'packages/examples/embedding/cluster.mjs'), join(app, 'cluster.mjs'));
    const output = await run(process.execPath, ['cluster.mjs'], app, 120_000);
    assert.match(output, /websocket \+ memory storage: leader n\d, total 10/);
    assert.match(output, /websocket \+ native storage: leader n\d, total 10/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

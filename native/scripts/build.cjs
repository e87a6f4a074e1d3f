#!/usr/bin/env node
'use strict';
// Builds the addon with node-gyp against the local Node headers. On failure, says what is missing.
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function has(cmd, args = ['--version']) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function headersDir() {
  const fromEnv = process.env.npm_config_nodedir;
  const candidates = [fromEnv, path.join(path.dirname(process.execPath), '..'), '/usr', '/usr/local'].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
} catch {
  // Installed as a dependency (no devDependencies): use the node-gyp that npm and pnpm hand to
  // install scripts.
  const fromPackageManager = process.env.npm_config_node_gyp;
  gyp = fromPackageManager && fs.existsSync(fromPackageManager) ? fromPackageManager : undefined;
}
const nodedir = headersDir();
// configure + build rather than rebuild: an existing binary stays in place (and usable by
// processes running meanwhile) until the new one is linked.
function gypRun(command) {
  const args = [gyp, command];
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  return spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status === 0;
}
if (gyp && gypRun('configure') && gypRun('build')) process.exit(0);

const missing = [];
if (!gyp) missing.push('node-gyp (a devDependency of @flotilla/native, or the one npm and pnpm provide to install scripts)');
if (!has('g++') && !has('c++')) missing.push('a C++17 compiler (g++ or clang++)');
if (!has('make')) missing.push('make');
if (!has('python3')) missing.push('python3 (node-gyp needs it)');
if (!nodedir) missing.push('the Node.js headers (include/node/node_api.h next to node, or set npm_config_nodedir)');
console.error('\n@flotilla/native: building the addon failed.');
if (missing.length) console.error(`Missing: ${missing.join('; ')}.`);
else console.error('All build tools were found; see the compiler output above.');
process.exit(1);

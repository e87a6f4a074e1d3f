#!/usr/bin/env node
// Runs the TypeScript CLI from source (through tsx), forwarding arguments, signals and exit code.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
// The V8 flags of NODE_PROCESS_FLAGS in src/node/cluster.ts (why: see there), for `flotilla start`.
const child = spawn(process.execPath, ['--initial-old-space-size=128', '--import', 'tsx', '--conditions=flotilla-source', main, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

import { runLoopbackBenchmarks } from './loopback.js';
await runLoopbackBenchmarks(process.argv.includes('--quick'));

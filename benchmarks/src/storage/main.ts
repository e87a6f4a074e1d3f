import { runStorageBenchmarks } from './index.js';

/** `node --import tsx --conditions=flotilla-source benchmarks/src/storage/main.ts [--quick]` */
const quick = process.argv.includes('--quick');
console.log(`Flotilla storage benchmarks${quick ? ' (quick)' : ''}: node ${process.version}, ${process.platform}/${process.arch}`);
await runStorageBenchmarks({ quick });

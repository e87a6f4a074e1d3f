// `node --import tsx --conditions=flotilla-source benchmarks/src/transport/main.ts [--quick]`
import { runTransportBenchmarks } from './index.js';

const quick = process.argv.includes('--quick');
console.log(`Flotilla transport benchmarks${quick ? ' (quick)' : ''}: node ${process.version}, ${process.platform}/${process.arch}`);
await runTransportBenchmarks({ quick });

export { main as quickstart } from './quickstart.js';
export { LocalCluster, freePorts, type LocalClusterOptions, type Reply } from './node/cluster.js';
export { parseNodeConfig, parseHostPort, type NodeConfig } from './node/config.js';
export { Ledger } from './node/ledger.js';
export { LatencyHistogram } from './node/histogram.js';
export { FaultTransport } from './node/fault-transport.js';
export { startNode, type RunningNode } from './node/server.js';

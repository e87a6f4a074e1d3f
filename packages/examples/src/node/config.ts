import { ConfigError, DEFAULT_TUNING, type NodeId, type RaftNodeTuning } from '@flotilla/core';

/** Everything one node process needs. Every key can come from a config file or a flag. */
export interface NodeConfig {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly secret: string;
  /** host:port where this node listens for its peers. */
  readonly raftAddress: string;
  /** host:port of this node's HTTP API (command API, and the KV service), if it serves one. */
  readonly httpAddress?: string;
  /** id → host:port of every other voter (its Raft address). */
  readonly peers: Readonly<Record<NodeId, string>>;
  /** id → host:port of other voters' HTTP APIs, where known (followers forward leader-only requests there). */
  readonly peerHttp: Readonly<Record<NodeId, string>>;
  readonly dataDir: string;
  readonly forwardProposals: boolean;
  /**
   * Start as a node joining a running cluster (default false): it neither campaigns nor votes
   * until the leader adds it (POST /v1/members, `flotilla join`). Its peers are the members it
   * knows; it learns the others from the replicated member registry.
   */
  readonly join?: boolean;
  /**
   * Bytes per write-ahead-log segment (default 64 MiB). The log is compacted below a snapshot a
   * whole segment at a time, so smaller segments free disk (and send far-behind followers a
   * snapshot) sooner. Every command must fit in one segment.
   */
  readonly walSegmentBytes?: number;
  /** How much the node logs: error, warn, info (default) or debug. */
  readonly logLevel: LogLevel;
  readonly tuning: Partial<RaftNodeTuning>;
}

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const TUNING_KEYS = new Set(Object.keys(DEFAULT_TUNING));

function text(source: Record<string, unknown>, key: string): string {
  const value = source[key];
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(key, `must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

export function parseHostPort(key: string, address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(key, `must be host:port, got ${JSON.stringify(address)}`);
  return { host: match[1]!, port };
}

/** Validates a parsed config object; every problem names its key. */
export function parseNodeConfig(source: unknown): NodeConfig {
  if (typeof source !== 'object' || source === null || Array.isArray(source)) throw new ConfigError('config', 'must be an object');
  const raw = source as Record<string, unknown>;
  const id = text(raw, 'id');
  const peersRaw = raw['peers'] ?? {};
  if (typeof peersRaw !== 'object' || peersRaw === null || Array.isArray(peersRaw)) throw new ConfigError('peers', 'must be an object of id → host:port');
  const peers: Record<string, string> = {};
  const peerHttp: Record<string, string> = {};
  for (const [peer, value] of Object.entries(peersRaw as Record<string, unknown>)) {
    if (peer === id) throw new ConfigError(`peers.${peer}`, 'names this node itself');
    // A peer is "host:port" (its Raft address) or { raftAddress, httpAddress }.
    if (typeof value === 'string') {
      parseHostPort(`peers.${peer}`, value);
      peers[peer] = value;
    } else if (typeof value === 'object' && value !== null) {
      const { raftAddress, httpAddress: peerHttpAddress } = value as Record<string, unknown>;
      if (typeof raftAddress !== 'string') throw new ConfigError(`peers.${peer}.raftAddress`, 'must be host:port');
      parseHostPort(`peers.${peer}.raftAddress`, raftAddress);
      peers[peer] = raftAddress;
      if (peerHttpAddress !== undefined) {
        if (typeof peerHttpAddress !== 'string') throw new ConfigError(`peers.${peer}.httpAddress`, 'must be host:port');
        parseHostPort(`peers.${peer}.httpAddress`, peerHttpAddress);
        peerHttp[peer] = peerHttpAddress;
      }
    } else {
      throw new ConfigError(`peers.${peer}`, 'must be host:port or { raftAddress, httpAddress }');
    }
  }
  const raftAddress = text(raw, 'raftAddress');
  parseHostPort('raftAddress', raftAddress);
  const httpAddress = raw['httpAddress'];
  if (httpAddress !== undefined) {
    if (typeof httpAddress !== 'string') throw new ConfigError('httpAddress', 'must be host:port');
    parseHostPort('httpAddress', httpAddress);
  }
  const tuning: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (TUNING_KEYS.has(key)) tuning[key] = value;
    else if (!['id', 'clusterId', 'secret', 'raftAddress', 'httpAddress', 'peers', 'dataDir', 'forwardProposals', 'join', 'walSegmentBytes', 'logLevel'].includes(key)) {
      throw new ConfigError(key, 'is not a known option');
    }
  }
  const forwardProposals = raw['forwardProposals'] ?? false;
  if (typeof forwardProposals !== 'boolean') throw new ConfigError('forwardProposals', 'must be true or false');
  const walSegmentBytes = raw['walSegmentBytes'];
  if (walSegmentBytes !== undefined && (typeof walSegmentBytes !== 'number' || !Number.isSafeInteger(walSegmentBytes) || walSegmentBytes < 65536 || walSegmentBytes > 2 ** 30)) {
    throw new ConfigError('walSegmentBytes', `must be an integer from 65536 (64 KiB) to 1073741824 (1 GiB), got ${JSON.stringify(walSegmentBytes)}`);
  }
  const join = raw['join'] ?? false;
  if (typeof join !== 'boolean') throw new ConfigError('join', `must be true or false, got ${JSON.stringify(join)}`);
  const logLevel = raw['logLevel'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) throw new ConfigError('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  return {
    id,
    logLevel: logLevel as LogLevel,
    clusterId: text(raw, 'clusterId'),
    secret: text(raw, 'secret'),
    raftAddress,
    ...(typeof httpAddress === 'string' ? { httpAddress } : {}),
    peers,
    peerHttp,
    dataDir: text(raw, 'dataDir'),
    forwardProposals,
    ...(join ? { join } : {}),
    ...(walSegmentBytes !== undefined ? { walSegmentBytes } : {}),
    tuning: tuning as Partial<RaftNodeTuning>,
  };
}

/** The flat config-file form of a NodeConfig (what parseNodeConfig reads back). */
export function toConfigFile(config: NodeConfig): Record<string, unknown> {
  const { tuning, peers, peerHttp, ...rest } = config;
  const peerEntries = Object.entries(peers).map(([id, raftAddress]) => [id, peerHttp[id] ? { raftAddress, httpAddress: peerHttp[id] } : raftAddress]);
  return { ...rest, peers: Object.fromEntries(peerEntries), ...tuning };
}

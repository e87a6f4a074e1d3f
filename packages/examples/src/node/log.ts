import { pino, type Logger } from 'pino';
import type { RaftNode } from '@flotilla/core';
import type { TransportLogger } from '@flotilla/transport';
import type { LogLevel } from './config.js';

export type NodeLogger = Logger;

/**
 * A node's structured log: JSON lines (`{"level":"info","time":"…","node":"n1","event":…,"msg":…}`)
 * written synchronously to `fd` (1 = stdout, 2 = stderr), at `level` and above.
 */
export function createNodeLogger(id: string, level: LogLevel, fd: 1 | 2 = 1): NodeLogger {
  return pino(
    {
      level,
      base: { node: id },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd, sync: true }),
  );
}

/** The transport's warnings (and infos) as log lines. */
export function transportLogger(log: NodeLogger): TransportLogger {
  return {
    warn: (message) => log.warn({ event: 'transport' }, message),
    info: (message) => log.info({ event: 'transport' }, message),
  };
}

/** Logs a peer's connection coming up (info) or going down (warn). */
export function logLinkChange(log: NodeLogger): (peer: string, connected: boolean) => void {
  return (peer, connected) => {
    if (connected) log.info({ event: 'peer_connected', peer }, `connected to ${peer}`);
    else log.warn({ event: 'peer_disconnected', peer }, `lost the connection to ${peer}`);
  };
}

/** Logs the node's role, term and leader changes (info) and the error that stops it (error). */
export function logNodeEvents<Result>(log: NodeLogger, node: RaftNode<Result>): void {
  node.on('stateChange', (s) => log.info({ event: 'state', role: s.role, term: s.term, leader: s.leader || null }, `${s.role} in term ${s.term}, leader ${s.leader || 'unknown'}`));
  node.on('leaderChange', (s) => log.debug({ event: 'leader', leader: s.leader || null, term: s.term }, `leader ${s.leader || 'unknown'} in term ${s.term}`));
  node.on('error', (error) => log.error({ event: 'failed', err: error }, `stopped by an error: ${error.message}`));
}

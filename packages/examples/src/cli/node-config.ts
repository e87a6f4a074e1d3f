import { readFile } from 'node:fs/promises';
import { ConfigError, DEFAULT_TUNING } from '@flotilla/core';
import { parseNodeConfig, type NodeConfig } from '../node/config.js';
import { camel, type ParsedArgs } from './args.js';

const NUMERIC = new Set([...Object.entries(DEFAULT_TUNING).filter(([, v]) => typeof v === 'number').map(([k]) => k), 'walSegmentBytes']);
const BOOLEAN = new Set([...Object.entries(DEFAULT_TUNING).filter(([, v]) => typeof v === 'boolean').map(([k]) => k), 'forwardProposals', 'join']);

/**
 * The config of `flotilla start`: a JSON file (--config) and flags, flags winning. Every key of
 * the file is also a flag in kebab case (--cluster-id, --election-timeout-ms, ...); peers are
 * given as --peer id=raftHost:port[,httpHost:port], repeatable. Errors name the key.
 */
export async function loadNodeConfig(args: ParsedArgs): Promise<NodeConfig> {
  let file: Record<string, unknown> = {};
  const path = args.options.get('config')?.[0];
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new ConfigError('config', `cannot read ${path}: ${(error as Error).message}`);
    }
    try {
      file = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError('config', `${path} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const merged: Record<string, unknown> = { ...file };
  for (const [flag, values] of args.options) {
    if (flag === 'config') continue;
    if (flag === 'peer') {
      const peers: Record<string, unknown> = { ...((merged['peers'] as Record<string, unknown>) ?? {}) };
      for (const value of values) {
        const match = /^([^=]+)=([^,]+)(?:,(.+))?$/.exec(value);
        if (!match) throw new ConfigError('peer', `must be id=raftHost:port[,httpHost:port], got ${value}`);
        peers[match[1]!] = match[3] ? { raftAddress: match[2], httpAddress: match[3] } : match[2];
      }
      merged['peers'] = peers;
      continue;
    }
    const key = camel(flag);
    const value = values[values.length - 1]!;
    if (NUMERIC.has(key)) {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new ConfigError(key, `must be a number, got ${value}`);
      merged[key] = n;
    } else if (BOOLEAN.has(key)) {
      if (value !== 'true' && value !== 'false') throw new ConfigError(key, `must be true or false, got ${value}`);
      merged[key] = value === 'true';
    } else {
      merged[key] = value;
    }
  }
  return parseNodeConfig(merged);
}

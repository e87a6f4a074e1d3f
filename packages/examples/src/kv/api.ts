import { TimeoutError, type RaftNode } from '@flotilla/core';
import type { NodeConfig } from '../node/config.js';
import { replyForError } from '../http/errors.js';
import { errorReply, json, type HttpHandler, type HttpReply, type HttpRequest } from '../http/server.js';
import { encodeCommand, Op, type KvCommand } from './commands.js';
import type { KvResult, KvStateMachine } from './state-machine.js';
import { addressesOf, handleMembers, memberList } from './members.js';

export interface KvApiOptions {
  /** Largest value in bytes (default 1 MiB). */
  readonly maxValueBytes: number;
  /** Largest key in bytes, after percent-decoding (1 KiB). */
  readonly maxKeyBytes: number;
  /** Deadline of each write and read, in ms. */
  readonly timeoutMs: number;
  /**
   * UNSAFE, for tests only (default false): answer linearizable (and lease) reads from this node's
   * local state without ReadIndex or lease, as `stale` reads. The Jepsen-style suite must report
   * the stale reads.
   */
  readonly unsafeTestLocalReads?: boolean;
  /**
   * UNSAFE, for tests only (default false): acknowledge a write as soon as it is proposed (appended
   * on the leader, or sent to it by a follower), before it commits; the results of cas and delete
   * are guessed from this node's local state. The Jepsen-style suite must report the lost writes.
   */
  readonly unsafeTestEarlyAcks?: boolean;
}

const CONSISTENCIES = new Set(['linearizable', 'lease', 'stale']);

/**
 * The KV service's HTTP API (see the examples README for the exact contract). Every node accepts
 * every request: writes are forwarded to the leader over the peer connection, linearizable reads
 * use ReadIndex (also on followers), leader-only operations are proxied to the leader's HTTP API.
 */
export function kvApi(node: RaftNode<KvResult>, kv: KvStateMachine, config: NodeConfig, options: KvApiOptions, extra: HttpHandler): HttpHandler {
  const write = async (command: KvCommand): Promise<{ index: number; term: number; result: KvResult }> => {
    const proposed = node.propose(encodeCommand(command), { forward: true, timeoutMs: options.timeoutMs });
    if (!options.unsafeTestEarlyAcks) return proposed;
    // UNSAFE test switch: a refusal (no leader, busy) still fails at once, as it rejects before the
    // next macrotask; anything else is acknowledged before it commits.
    const early = await Promise.race([proposed.then(() => undefined), new Promise<'proposed'>((resolve) => setImmediate(resolve, 'proposed'))]);
    if (early !== 'proposed') return proposed;
    proposed.catch(() => undefined);
    const current = kv.get(command.key);
    const result: KvResult =
      command.op === Op.Delete ? { deleted: current !== undefined }
      : command.op === Op.Cas ? { ok: command.expect === null ? current === undefined : current !== undefined && Buffer.compare(current, command.expect) === 0 }
      : {};
    return { index: 0, term: node.term, result };
  };

  const keyOf = (raw: string): string | HttpReply => {
    let key: string;
    try {
      key = decodeURIComponent(raw);
    } catch {
      return errorReply(400, 'bad_request', 'the key is not valid percent-encoding');
    }
    if (key.length === 0) return errorReply(400, 'bad_request', 'the key is empty');
    if (Buffer.byteLength(key) > options.maxKeyBytes) return errorReply(400, 'bad_request', `the key exceeds ${options.maxKeyBytes} bytes`);
    return key;
  };

  const handleKey = async (request: HttpRequest, rawKey: string, cas: boolean): Promise<HttpReply> => {
    const key = keyOf(rawKey);
    if (typeof key !== 'string') return key;
    try {
      if (cas) {
        if (request.method !== 'POST') return errorReply(405, 'method_not_allowed', 'use POST for cas');
        let body: unknown;
        try {
          body = JSON.parse(request.body.toString('utf8'));
        } catch {
          return errorReply(400, 'bad_request', 'the body must be JSON {"expect": string|null, "value": string|null}');
        }
        const { expect, value } = (body ?? {}) as Record<string, unknown>;
        const nullableText = (v: unknown): v is string | null => v === null || typeof v === 'string';
        if (typeof body !== 'object' || body === null || !('expect' in body) || !('value' in body) || !nullableText(expect) || !nullableText(value)) {
          return errorReply(400, 'bad_request', 'the body must be JSON {"expect": string|null, "value": string|null}');
        }
        const encoded = value === null ? null : Buffer.from(value, 'utf8');
        if (encoded && encoded.byteLength > options.maxValueBytes) return errorReply(413, 'too_large', `the value exceeds ${options.maxValueBytes} bytes`);
        const { index, term, result } = await write({ op: Op.Cas, key, expect: expect === null ? null : Buffer.from(expect, 'utf8'), value: encoded });
        return json(200, { ok: result.ok === true, index, term });
      }
      switch (request.method) {
        case 'PUT': {
          if (request.body.byteLength > options.maxValueBytes) return errorReply(413, 'too_large', `the value exceeds ${options.maxValueBytes} bytes`);
          const { index, term } = await write({ op: Op.Put, key, value: request.body });
          return json(200, { index, term });
        }
        case 'DELETE': {
          const { index, term, result } = await write({ op: Op.Delete, key });
          return json(200, { index, term, deleted: result.deleted === true });
        }
        case 'GET': {
          const consistency = request.query.get('consistency') ?? 'linearizable';
          if (!CONSISTENCIES.has(consistency)) return errorReply(400, 'bad_request', 'consistency must be linearizable, lease or stale');
          // The UNSAFE test switch turns linearizable and lease reads into local (stale) ones.
          const effective = options.unsafeTestLocalReads ? 'stale' : consistency;
          const value = await node.read(() => kv.get(key), { consistency: effective as 'linearizable', timeoutMs: options.timeoutMs });
          if (value === undefined) return errorReply(404, 'not_found', `no key ${JSON.stringify(key)}`);
          return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: value };
        }
        default:
          return errorReply(405, 'method_not_allowed', 'use GET, PUT or DELETE');
      }
    } catch (error) {
      return replyForError(error);
    }
  };

  /** Leader-only requests on a follower go to the leader's HTTP API. */
  const proxyToLeader = async (request: HttpRequest): Promise<HttpReply> => {
    const leader = node.leaderId;
    const address = leader ? (addressesOf(kv, config, leader).httpAddress ?? undefined) : undefined;
    if (!leader || !address) return errorReply(503, 'no_leader', leader ? `the leader ${leader}'s HTTP address is not configured` : 'no leader is known');
    try {
      const response = await fetch(`http://${address}${request.path}`, {
        method: request.method,
        body: request.method === 'GET' ? undefined : request.body,
        headers: { 'content-type': request.headers.get('content-type') ?? 'application/json' },
        // Longer than the leader's own deadline, so its answer (even a timeout) gets back here.
        signal: AbortSignal.timeout(options.timeoutMs + 500),
      });
      return { status: response.status, headers: { 'content-type': response.headers.get('content-type') ?? 'application/json' }, body: Buffer.from(await response.arrayBuffer()) };
    } catch (error) {
      return replyForError(new TimeoutError(`forwarding to the leader ${leader} failed: ${(error as Error).message}`, true));
    }
  };

  return async (request) => {
    const path = request.path;
    if (path.startsWith('/v1/kv/')) {
      const rest = path.slice('/v1/kv/'.length);
      if (rest.endsWith('/cas')) return handleKey(request, rest.slice(0, -'/cas'.length), true);
      if (rest.includes('/')) return errorReply(400, 'bad_request', 'a key is one path segment (encode / as %2F)');
      return handleKey(request, rest, false);
    }
    if (path === '/v1/status' && request.method === 'GET') {
      const status = node.status();
      // The configuration in force, with addresses from the replicated member registry.
      const members = memberList(node, kv, config);
      return json(200, { id: status.id, role: status.role, term: status.term, leader: status.leader || null, commitIndex: status.commitIndex, appliedIndex: status.appliedIndex, members });
    }
    if (path === '/v1/leader/transfer') {
      if (request.method !== 'POST') return errorReply(405, 'method_not_allowed', 'use POST');
      let to: unknown;
      try {
        to = (JSON.parse(request.body.toString('utf8')) as Record<string, unknown>)['to'];
      } catch {
        return errorReply(400, 'bad_request', 'the body must be JSON {"to": id}');
      }
      if (typeof to !== 'string' || !node.members().voters.includes(to)) return errorReply(400, 'bad_request', `"to" must name a member, got ${JSON.stringify(to)}`);
      if (node.role !== 'leader') return proxyToLeader(request);
      try {
        await node.transferLeadership(to, { timeoutMs: options.timeoutMs });
        return json(200, { leader: to, term: node.term });
      } catch (error) {
        return replyForError(error);
      }
    }
    if (path === '/v1/members' || path.startsWith('/v1/members/')) {
      return handleMembers(request, node, kv, options.timeoutMs, proxyToLeader);
    }
    if (path === '/v1/digest' && request.method === 'GET') {
      const at = request.query.get('index');
      if (at === null) return json(200, { id: config.id, ...kv.digest() });
      const index = Number(at);
      const digest = kv.digestAt(index);
      if (digest === undefined) return errorReply(404, 'not_found', `no digest at index ${at} (applied ${kv.appliedIndex})`);
      return json(200, { id: config.id, appliedIndex: index, digest });
    }
    return extra(request);
  };
}

import { ConfigError, MembershipError, type RaftNode } from '@flotilla/core';
import { replyForError } from '../http/errors.js';
import { errorReply, json, type HttpReply, type HttpRequest } from '../http/server.js';
import { parseHostPort, type NodeConfig } from '../node/config.js';
import { encodeCommand, Op, type KvCommand } from './commands.js';
import type { KvResult, KvStateMachine } from './state-machine.js';

/** One member as `GET /v1/status` lists it. */
export interface MemberInfo {
  readonly id: string;
  readonly raftAddress: string | null;
  readonly httpAddress: string | null;
  readonly voter: boolean;
}

/** A member's addresses: the replicated registry first, then this node's static config. */
export function addressesOf(kv: KvStateMachine, config: NodeConfig, id: string): { raftAddress: string | null; httpAddress: string | null } {
  const registered = kv.registry().get(id);
  if (registered) return registered;
  if (id === config.id) return { raftAddress: config.raftAddress, httpAddress: config.httpAddress ?? null };
  return { raftAddress: config.peers[id] ?? null, httpAddress: config.peerHttp[id] ?? null };
}

/** The current configuration (voters, learners, outgoing voters of a joint change) with every member's addresses. */
export function memberList(node: RaftNode<KvResult>, kv: KvStateMachine, config: NodeConfig): MemberInfo[] {
  const { voters, learners, outgoingVoters } = node.members();
  const ids = [...new Set([...voters, ...outgoingVoters, ...learners])].sort();
  return ids.map((id) => ({ id, ...addressesOf(kv, config, id), voter: voters.includes(id) }));
}

function membershipReply(error: unknown): HttpReply {
  if (error instanceof MembershipError) {
    return error.code === 'CONFIG_CHANGE_IN_PROGRESS'
      ? errorReply(409, 'change_in_progress', error.message)
      : errorReply(400, 'bad_membership', error.message);
  }
  return replyForError(error);
}

function configOf(node: RaftNode<KvResult>): { voters: readonly string[]; learners: readonly string[] } {
  const { voters, learners } = node.members();
  return { voters, learners };
}

/**
 * `POST /v1/members` and `DELETE /v1/members/{id}`, on the leader (the caller forwards requests
 * that reach a follower). Adding records the member's addresses in the replicated registry (so
 * that every node can reach it), then adds it as a learner, promoted to voter once caught up if
 * asked. Removing takes it out of the configuration, then drops its addresses.
 */
export async function handleMembers(request: HttpRequest, node: RaftNode<KvResult>, kv: KvStateMachine, timeoutMs: number, proxyToLeader: (request: HttpRequest) => Promise<HttpReply>): Promise<HttpReply> {
  // One deadline for the whole request (the address record and the change), so that a follower
  // forwarding it gets the leader's answer before its own proxy deadline.
  const deadline = Date.now() + timeoutMs;
  const left = (): number => Math.max(1, deadline - Date.now());
  const propose = (command: KvCommand): Promise<unknown> => node.propose(encodeCommand(command), { forward: true, timeoutMs: left() });
  if (request.path === '/v1/members') {
    if (request.method !== 'POST') return errorReply(405, 'method_not_allowed', 'use POST to add a member (GET /v1/status lists them)');
    const usage = 'the body must be JSON {"id": string, "raftAddress": "host:port", "httpAddress": "host:port", "voter": boolean}';
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(request.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return errorReply(400, 'bad_request', usage);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return errorReply(400, 'bad_request', usage);
    const { id, raftAddress, httpAddress, voter = false } = body;
    if (typeof id !== 'string' || id.length === 0 || id.length > 256 || /[\s/]/.test(id)) return errorReply(400, 'bad_request', `"id" must be a non-empty string of at most 256 characters without spaces or slashes, got ${JSON.stringify(id)}`);
    if (typeof voter !== 'boolean') return errorReply(400, 'bad_request', `"voter" must be true or false, got ${JSON.stringify(voter)}`);
    for (const [key, value] of [['raftAddress', raftAddress], ['httpAddress', httpAddress]] as const) {
      try {
        if (typeof value !== 'string') throw new ConfigError(key, `must be host:port, got ${JSON.stringify(value)}`);
        parseHostPort(key, value);
      } catch (error) {
        return errorReply(400, 'bad_request', (error as Error).message);
      }
    }
    if (node.role !== 'leader') return proxyToLeader(request);
    const current = node.members();
    if (current.voters.includes(id) || current.outgoingVoters.includes(id)) return errorReply(409, 'already_member', `${id} is already a voter`);
    try {
      // Addresses first: once the learner is in the configuration the leader sends it entries,
      // and every node must be able to reach it (the transport refuses unknown ids).
      await propose({ op: Op.Member, key: id, raftAddress: raftAddress as string, httpAddress: httpAddress as string });
      await node.addLearner(id, { promote: voter, timeoutMs: left() });
    } catch (error) {
      return membershipReply(error);
    }
    return json(200, { id, raftAddress, httpAddress, learner: true, promote: voter, ...configOf(node) });
  }
  const raw = request.path.slice('/v1/members/'.length);
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return errorReply(400, 'bad_request', 'the id is not valid percent-encoding');
  }
  if (request.method !== 'DELETE') return errorReply(405, 'method_not_allowed', 'use DELETE to remove a member');
  if (id.length === 0 || id.includes('/')) return errorReply(400, 'bad_request', 'DELETE /v1/members/{id} needs a member id');
  if (node.role !== 'leader') return proxyToLeader(request);
  const current = node.members();
  if (![...current.voters, ...current.learners, ...current.outgoingVoters].includes(id)) return errorReply(404, 'not_member', `${id} is not a member`);
  try {
    await node.removeMember(id, { timeoutMs: left() });
  } catch (error) {
    return membershipReply(error);
  }
  // The removal has committed: now every node may drop the member's addresses. Best effort (this
  // node may have been the one removed and stepped down meanwhile): a stale registry entry of a
  // non-member is never listed and only keeps a transport link.
  let forgotten = true;
  try {
    await node.propose(encodeCommand({ op: Op.Forget, key: id }), { forward: true, timeoutMs: Math.max(1000, left()) });
  } catch {
    forgotten = false;
  }
  return json(200, { id, removed: true, forgotten, ...configOf(node) });
}

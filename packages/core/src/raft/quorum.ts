import type { ConfigState, NodeId } from '../types.js';

/** Majority arithmetic over one voter set, and joint arithmetic over two. */

export type VoteOutcome = 'won' | 'lost' | 'pending';

/**
 * The highest index acknowledged by a majority of `voters`, given each voter's match index.
 * An empty voter set places no constraint (returns +Infinity), which is what joint arithmetic needs.
 */
export function majorityCommitted(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.POSITIVE_INFINITY;
  const matches = new Array<number>(n);
  for (let i = 0; i < n; i++) matches[i] = matchOf(voters[i]!);
  matches.sort((a, b) => b - a);
  return matches[Math.floor(n / 2)]!;
}

export function majorityVote(voters: readonly NodeId[], granted: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const n = voters.length;
  if (n === 0) return 'won';
  let yes = 0;
  let no = 0;
  for (const id of voters) {
    const vote = granted.get(id);
    if (vote === true) yes++;
    else if (vote === false) no++;
  }
  const quorum = Math.floor(n / 2) + 1;
  if (yes >= quorum) return 'won';
  if (no > n - quorum) return 'lost';
  return 'pending';
}

/** Whether `active` holds a majority of `voters`. */
export function majorityActive(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  if (voters.length === 0) return true;
  let count = 0;
  for (const id of voters) if (active(id)) count++;
  return count >= Math.floor(voters.length / 2) + 1;
}

/**
 * The highest value that a quorum of the (possibly joint) configuration has reached, given each
 * member's value: both majorities must agree. +Infinity if there are no voters at all.
 */
export function quorumValue(config: ConfigState, valueOf: (id: NodeId) => number): number {
  return Math.min(majorityCommitted(config.voters, valueOf), majorityCommitted(config.outgoingVoters, valueOf));
}

/** Committed index under a (possibly joint) configuration. */
export function committedIndex(config: ConfigState, matchOf: (id: NodeId) => number): number {
  const index = quorumValue(config, matchOf);
  return index === Number.POSITIVE_INFINITY ? 0 : index;
}

export function voteOutcome(config: ConfigState, granted: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const incoming = majorityVote(config.voters, granted);
  const outgoing = majorityVote(config.outgoingVoters, granted);
  if (incoming === 'lost' || outgoing === 'lost') return 'lost';
  if (incoming === 'won' && outgoing === 'won') return 'won';
  return 'pending';
}

/** Whether the members for which `active` holds make a quorum of the (possibly joint) configuration. */
export function quorumActive(config: ConfigState, active: (id: NodeId) => boolean): boolean {
  return majorityActive(config.voters, active) && majorityActive(config.outgoingVoters, active);
}

export function isVoter(config: ConfigState, id: NodeId): boolean {
  return config.voters.includes(id) || config.outgoingVoters.includes(id);
}

/** Every member that receives the log: voters of both halves and learners, without duplicates. */
export function allMembers(config: ConfigState): NodeId[] {
  return [...new Set([...config.voters, ...config.outgoingVoters, ...config.learners])];
}

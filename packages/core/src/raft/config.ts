import { FlotillaError } from '../errors.js';
import type { ConfigState, NodeId } from '../types.js';

/**
 * Cluster configurations: validation, the bytes of a Config log entry, and the change a request
 * turns into. A Config entry carries the whole new configuration (not a delta), so the latest one
 * in a log says everything.
 */

export const EMPTY_CONFIG: ConfigState = Object.freeze({ voters: [], learners: [], outgoingVoters: [] });

/** A membership change was refused (bad request, or another change is in flight). */
export class MembershipError extends FlotillaError {
  constructor(code: 'CONFIG_CHANGE_IN_PROGRESS' | 'BAD_MEMBERSHIP', message: string) {
    super(code, message);
  }
}

export function isJoint(config: ConfigState): boolean {
  return config.outgoingVoters.length > 0;
}

export function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a);
  return b.every((id) => set.has(id));
}

export function sameConfig(a: ConfigState, b: ConfigState): boolean {
  return (
    sameMembers(a.voters, b.voters) &&
    sameMembers(a.learners, b.learners) &&
    sameMembers(a.outgoingVoters, b.outgoingVoters) &&
    sameMembers(autoPromoteOf(a), autoPromoteOf(b))
  );
}

/** The learners to promote once caught up (none when the field is absent). */
export function autoPromoteOf(config: ConfigState): readonly NodeId[] {
  return config.autoPromote ?? [];
}

/**
 * A configuration object with `autoPromote` present only when it names someone, so that
 * configurations without it look exactly as they did before the field existed.
 */
export function makeConfig(voters: readonly NodeId[], learners: readonly NodeId[], outgoingVoters: readonly NodeId[], autoPromote: readonly NodeId[] = []): ConfigState {
  const config: ConfigState = { voters: [...voters], learners: [...learners], outgoingVoters: [...outgoingVoters] };
  return autoPromote.length > 0 ? { ...config, autoPromote: [...autoPromote] } : config;
}

/** Throws MembershipError unless `config` is a configuration a cluster can be in. */
export function validateConfig(config: ConfigState): void {
  const fail = (message: string): never => {
    throw new MembershipError('BAD_MEMBERSHIP', message);
  };
  for (const key of ['voters', 'learners', 'outgoingVoters'] as const) {
    const list = config[key];
    if (!Array.isArray(list)) fail(`${key} must be an array of node ids`);
    for (const id of list) if (typeof id !== 'string' || id.length === 0 || id.length > 256) fail(`${key} holds an invalid node id: ${JSON.stringify(id)}`);
    if (new Set(list).size !== list.length) fail(`${key} names a node twice`);
  }
  if (config.voters.length === 0) fail('a configuration needs at least one voter');
  const voters = new Set([...config.voters, ...config.outgoingVoters]);
  for (const id of config.learners) if (voters.has(id)) fail(`${id} cannot be both a voter and a learner`);
  if (config.autoPromote !== undefined) {
    if (!Array.isArray(config.autoPromote)) fail('autoPromote must be an array of node ids');
    if (new Set(config.autoPromote).size !== config.autoPromote.length) fail('autoPromote names a node twice');
    for (const id of config.autoPromote) if (!config.learners.includes(id)) fail(`${JSON.stringify(id)} cannot be promoted automatically: it is not a learner`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfig(config: ConfigState): Uint8Array {
  return encoder.encode(JSON.stringify(makeConfig(config.voters, config.learners, config.outgoingVoters, autoPromoteOf(config))));
}

/** Decodes a Config entry's data; throws if it is not a valid configuration. */
export function decodeConfig(data: Uint8Array): ConfigState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    throw new MembershipError('BAD_MEMBERSHIP', 'a config entry does not hold JSON');
  }
  const object = parsed as Partial<ConfigState> | null;
  const config: ConfigState = {
    voters: object?.voters ?? [],
    learners: object?.learners ?? [],
    outgoingVoters: object?.outgoingVoters ?? [],
    autoPromote: object?.autoPromote ?? [],
  };
  validateConfig(config);
  return Object.freeze(makeConfig(config.voters, config.learners, config.outgoingVoters, config.autoPromote));
}

/**
 * The first configuration to append for a request to move from `current` (not joint) to voters
 * `voters`, learners `learners` and learners to promote once caught up `autoPromote`: the joint
 * configuration when the voter set changes, the target itself when only learners change.
 */
export function firstStep(current: ConfigState, voters: readonly NodeId[], learners: readonly NodeId[], autoPromote: readonly NodeId[] = []): ConfigState {
  const target = makeConfig(voters, learners, [], autoPromote);
  validateConfig(target);
  if (sameMembers(current.voters, voters)) return target;
  for (const id of learners) {
    if (current.voters.includes(id)) {
      // The joint configuration would hold it as an outgoing voter and a learner at once.
      throw new MembershipError('BAD_MEMBERSHIP', `${id} is a voter: remove it first, then add it back as a learner`);
    }
  }
  const joint = makeConfig(voters, learners, current.voters, autoPromote);
  validateConfig(joint);
  return joint;
}

/** The configuration that ends a joint one: the incoming voters alone. */
export function leaveJoint(config: ConfigState): ConfigState {
  return makeConfig(config.voters, config.learners, [], autoPromoteOf(config));
}

/** The quorum sizes a configuration needs: a majority of `voters`, and of `outgoingVoters` when joint. */
function majorities(config: ConfigState): { readonly set: ReadonlySet<NodeId>; readonly need: number }[] {
  const parts = [{ set: new Set(config.voters), need: Math.floor(config.voters.length / 2) + 1 }];
  if (isJoint(config)) parts.push({ set: new Set(config.outgoingVoters), need: Math.floor(config.outgoingVoters.length / 2) + 1 });
  return parts;
}

/**
 * Whether a quorum of `a` and a quorum of `b` can be disjoint: if so, two leaders could be elected
 * (or two different entries committed) at once by the two configurations, and moving from one to the
 * other in a single log entry would be unsafe. Consecutive configurations in a log must never allow it
 * (joint consensus exists for that). A configuration without voters has no quorum at all.
 *
 * Exact, and polynomial: every node goes to the first quorum or the second (quorums are closed under
 * adding nodes, so leaving a node out never helps), and the state is how many members of each voter
 * set each side holds, capped at what it needs.
 */
export function quorumsCanBeDisjoint(a: ConfigState, b: ConfigState): boolean {
  if (a.voters.length === 0 || b.voters.length === 0) return false;
  const sides = [...majorities(a), ...majorities(b)];
  const firstOfB = majorities(a).length;
  const needs = sides.map((s) => s.need);
  const key = (counts: readonly number[]): string => counts.join(',');
  let states = new Map<string, number[]>([[key(needs.map(() => 0)), needs.map(() => 0)]]);
  const nodes = new Set<NodeId>([...a.voters, ...a.outgoingVoters, ...b.voters, ...b.outgoingVoters]);
  for (const node of nodes) {
    const next = new Map<string, number[]>();
    for (const counts of states.values()) {
      for (const toA of [true, false]) {
        const moved = counts.map((c, i) => ((i < firstOfB) === toA && sides[i]!.set.has(node) ? Math.min(c + 1, needs[i]!) : c));
        next.set(key(moved), moved);
      }
    }
    states = next;
  }
  for (const counts of states.values()) if (counts.every((c, i) => c >= needs[i]!)) return true;
  return false;
}

/** `voters a,b,c (joint with d,e,f) learners g` — for messages. */
export function describeConfig(config: ConfigState): string {
  const joint = isJoint(config) ? ` (joint with ${config.outgoingVoters.join(',')})` : '';
  const learners = config.learners.length > 0 ? ` learners ${config.learners.join(',')}` : '';
  const marked = autoPromoteOf(config);
  const promote = marked.length > 0 ? ` (promote ${marked.join(',')} when caught up)` : '';
  return `voters ${config.voters.join(',') || '-'}${joint}${learners}${promote}`;
}

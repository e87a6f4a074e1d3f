/**
 * Nemeses: faults injected into a running LocalCluster on a schedule drawn from the run's seed.
 * One fault at a time: a quiet interval, then a fault held for a while, then its repair; the kinds
 * enabled take turns in a seeded order, so that a short run still exercises each of them.
 */
import type { LocalCluster } from '@flotilla/examples';
import type { Endpoint, HttpClient } from './http.js';
import { describeResult } from './http.js';
import type { Rng } from './random.js';

export const NEMESES = ['kill-leader', 'kill-random', 'pause-leader', 'partition-leader', 'partition-split', 'partition-one-way', 'transfer', 'membership'] as const;
export type NemesisName = (typeof NEMESES)[number];

/** Nemeses that cannot run yet, and why. They are reported, never simulated. */
export const UNAVAILABLE: Partial<Record<NemesisName, string>> = {};

export const AVAILABLE_NEMESES: readonly NemesisName[] = NEMESES.filter((n) => !UNAVAILABLE[n]);

export function parseNemeses(list: string): NemesisName[] {
  if (list === 'none' || list === '') return [];
  if (list === 'all') return [...AVAILABLE_NEMESES];
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of names) if (!(NEMESES as readonly string[]).includes(name)) throw new Error(`unknown nemesis ${name} (known: ${NEMESES.join(', ')})`);
  return [...new Set(names)] as NemesisName[];
}

export interface NemesisTiming {
  /** Healthy interval before each fault, ms (drawn uniformly). */
  readonly quietMs: readonly [number, number];
  /** How long a fault is held, ms. */
  readonly faultMs: readonly [number, number];
}

export const DEFAULT_TIMING: NemesisTiming = { quietMs: [1000, 3000], faultMs: [2000, 5000] };

export interface NemesisEvent {
  /** Milliseconds since the start of the run. */
  readonly at: number;
  readonly nemesis: NemesisName | 'heal';
  readonly detail: string;
}

interface Active {
  readonly name: NemesisName;
  readonly detail: string;
  /** Undefined for a fault with nothing to hold or repair (a leadership transfer). */
  readonly repair?: () => Promise<void>;
}

export class Nemesis {
  readonly events: NemesisEvent[] = [];
  readonly counts: Partial<Record<NemesisName, number>> = {};
  private stopped = false;
  private wake: (() => void) | undefined;
  private active: Active | undefined;

  constructor(
    private readonly cluster: LocalCluster,
    private readonly endpoints: readonly Endpoint[],
    private readonly http: HttpClient,
    private readonly rng: Rng,
    private readonly enabled: readonly NemesisName[],
    private readonly timing: NemesisTiming,
    private readonly since: () => number,
    private readonly log: (line: string) => void,
    /** After repairing each fault, hand leadership back to this node (the clock-skew runs). */
    private readonly homeLeader?: string,
  ) {}

  private record(nemesis: NemesisName | 'heal', detail: string): void {
    const event = { at: Math.round(this.since()), nemesis, detail };
    this.events.push(event);
    this.log(`[${(event.at / 1000).toFixed(1)}s] nemesis ${nemesis}: ${detail}`);
  }

  /** Sleeps, or returns early (false) once stopped. */
  private sleep(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(true);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(false);
      };
    });
  }

  /** Runs the schedule until stop(); every fault it starts it also repairs. */
  async run(): Promise<void> {
    for (const name of this.enabled) if (UNAVAILABLE[name]) this.record(name, UNAVAILABLE[name]!);
    const kinds = this.enabled.filter((n) => !UNAVAILABLE[n]);
    if (kinds.length === 0) return;
    let order: NemesisName[] = [];
    while (!this.stopped) {
      if (order.length === 0) order = this.rng.shuffle(kinds);
      const name = order.shift()!;
      // Fixed draws per fault, used or not, so the schedule depends on the seed only.
      const quiet = this.rng.range(this.timing.quietMs[0], this.timing.quietMs[1]);
      const hold = this.rng.range(this.timing.faultMs[0], this.timing.faultMs[1]);
      const pick = this.rng.next();
      const aux = this.rng.next();
      if (!(await this.sleep(quiet))) break;
      const started = await this.start(name, pick, aux);
      if (!started) continue;
      this.counts[name] = (this.counts[name] ?? 0) + 1;
      if (!started.repair) continue;
      this.active = started;
      await this.sleep(hold);
      this.active = undefined;
      await started.repair();
      if (this.homeLeader && !this.stopped) await this.bringLeaderHome(this.homeLeader);
    }
  }

  private async bringLeaderHome(home: string): Promise<void> {
    for (let attempt = 0; attempt < 10 && !this.stopped; attempt++) {
      if ((await this.leader()) === home) return;
      const result = await this.http.send(this.endpoints.find((e) => e.id === home)!, 'POST', '/v1/leader/transfer', JSON.stringify({ to: home }));
      this.record('heal', `transfer leadership back to ${home}: ${describeResult(result)}`);
      if (result.kind === 'response' && result.status === 200) return;
      await this.sleep(500);
    }
  }

  /** Every enabled (and available) nemesis has struck at least once. */
  coveredAll(): boolean {
    return this.enabled.every((name) => UNAVAILABLE[name] !== undefined || (this.counts[name] ?? 0) > 0);
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async leader(): Promise<string | undefined> {
    try {
      return await this.cluster.waitForLeader(3000);
    } catch {
      return undefined;
    }
  }

  private async start(name: NemesisName, pick: number, aux: number): Promise<Active | undefined> {
    const ids = this.cluster.ids;
    const random = ids[Math.floor(pick * ids.length)]!;
    const leaderOr = async (): Promise<{ id: string; how: string }> => {
      const leader = await this.leader();
      return leader ? { id: leader, how: 'the leader' } : { id: random, how: 'no leader agreed on; random node' };
    };
    const block = async (id: string, peers: string[], direction: 'both' | 'outbound' | 'inbound' = 'both'): Promise<void> => {
      const reply = await this.cluster.request(id, 'block', { peers, direction }, 5000);
      if (!reply.ok) this.log(`nemesis: block on ${id} failed: ${JSON.stringify(reply['error'])}`);
    };
    const healPartitions = async (): Promise<void> => {
      await Promise.all(ids.map((id) => this.cluster.request(id, 'heal', {}, 5000)));
    };
    switch (name) {
      case 'kill-leader':
      case 'kill-random': {
        const target = name === 'kill-leader' ? await leaderOr() : { id: random, how: 'random node' };
        if (!this.cluster.isRunning(target.id)) return undefined;
        await this.cluster.kill(target.id, 'SIGKILL');
        const detail = `SIGKILL ${target.id} (${target.how})`;
        this.record(name, detail);
        return { name, detail, repair: () => this.restart(target.id) };
      }
      case 'pause-leader': {
        const target = await leaderOr();
        this.cluster.pause(target.id);
        const detail = `SIGSTOP ${target.id} (${target.how})`;
        this.record(name, detail);
        return {
          name,
          detail,
          repair: async () => {
            this.cluster.resume(target.id);
            this.record('heal', `SIGCONT ${target.id}`);
          },
        };
      }
      case 'partition-leader': {
        const target = await leaderOr();
        const others = ids.filter((id) => id !== target.id);
        await Promise.all([block(target.id, others), ...others.map((id) => block(id, [target.id]))]);
        const detail = `isolate ${target.id} (${target.how}) from ${others.join(', ')}`;
        this.record(name, detail);
        return { name, detail, repair: async () => (await healPartitions(), this.record('heal', 'partitions healed')) };
      }
      case 'partition-split': {
        // The minority: the drawn node and the ones after it (for 3 nodes, the drawn node alone).
        const from = ids.indexOf(random);
        const minority = [...ids.slice(from), ...ids.slice(0, from)].slice(0, Math.floor((ids.length - 1) / 2));
        const majority = ids.filter((id) => !minority.includes(id));
        await Promise.all([...minority.map((id) => block(id, majority)), ...majority.map((id) => block(id, minority))]);
        const detail = `split {${minority.join(', ')}} | {${majority.join(', ')}}`;
        this.record(name, detail);
        return { name, detail, repair: async () => (await healPartitions(), this.record('heal', 'partitions healed')) };
      }
      case 'partition-one-way': {
        const target = await leaderOr();
        const others = ids.filter((id) => id !== target.id);
        const deaf = aux < 0.5;
        // deaf: the leader hears nobody (its messages still go out); mute: nobody hears it.
        await block(target.id, others, deaf ? 'inbound' : 'outbound');
        const detail = deaf ? `${target.id} (${target.how}) hears nothing from ${others.join(', ')}; they still hear it` : `${others.join(', ')} hear nothing from ${target.id} (${target.how}); it still hears them`;
        this.record(name, detail);
        return { name, detail, repair: async () => (await healPartitions(), this.record('heal', 'partitions healed')) };
      }
      case 'transfer': {
        const leader = await this.leader();
        const candidates = ids.filter((id) => id !== leader);
        const to = candidates[Math.floor(pick * candidates.length)]!;
        const via = this.endpoints[Math.floor(aux * this.endpoints.length)]!;
        const result = await this.http.send(via, 'POST', '/v1/leader/transfer', JSON.stringify({ to }));
        const detail = `transfer ${leader ?? '(no leader)'} → ${to} via ${via.id}: ${describeResult(result)}`;
        this.record(name, detail);
        return { name, detail };
      }
      case 'membership': {
        // Remove a voter that does not lead (DELETE /v1/members), stop it, and on repair bring it
        // back as a fresh member: an empty data directory, the same addresses, added as a learner
        // and promoted to voter once caught up (POST /v1/members).
        const leader = await this.leader();
        if (!leader) return undefined;
        const candidates = ids.filter((id) => id !== leader && this.cluster.isRunning(id));
        if (candidates.length === 0) return undefined;
        const victim = candidates[Math.floor(pick * candidates.length)]!;
        const via = this.endpoints.find((e) => e.id === leader)!;
        const removed = await this.http.send(via, 'DELETE', `/v1/members/${victim}`);
        if (removed.kind !== 'response' || removed.status !== 200) {
          this.log(`nemesis: removing ${victim} via ${leader} did not happen: ${describeResult(removed)}`);
          // The outcome may be unknown (a timeout): if it did happen, the repair must add it back.
          if (removed.kind === 'response' && removed.status !== 504) return undefined;
        }
        await this.cluster.kill(victim, 'SIGKILL');
        const detail = `removed voter ${victim} via ${leader} (${describeResult(removed)}) and stopped it`;
        this.record(name, detail);
        const committed = removed.kind === 'response' && removed.status === 200;
        return { name, detail, repair: () => this.rejoin(victim, committed) };
      }
    }
  }

  /**
   * The configuration as the leader sees it, or undefined if no leader is agreed on within a few
   * seconds. The leader's log holds every committed configuration (and any change it has begun), so
   * its view is never behind a committed one: a follower's can be (a learner still catching up
   * lists members that have since been removed).
   */
  private async leaderView(): Promise<{ leader: string; voters: string[]; others: string[] } | undefined> {
    const leader = await this.leader();
    if (!leader) return undefined;
    const result = await this.http.send(this.endpoints.find((e) => e.id === leader)!, 'GET', '/v1/status');
    if (result.kind !== 'response' || result.status !== 200) return undefined;
    const status = JSON.parse(result.body.toString('utf8')) as { role: string; members: { id: string; voter: boolean }[] };
    if (status.role !== 'leader') return undefined;
    // `others`: learners and the outgoing voters of a joint configuration.
    return { leader, voters: status.members.filter((m) => m.voter).map((m) => m.id), others: status.members.filter((m) => !m.voter).map((m) => m.id) };
  }

  /**
   * Brings a removed member back and waits until it is a voter again. If the removal is known to
   * have committed, it comes back afresh. If its outcome is unknown (a timeout), the victim is
   * first restarted on its own data, which is always safe (a crash and a restart): the removal may
   * not have happened, or may be a joint configuration whose outgoing half still needs the victim
   * for a quorum, and wiping its data could then leave the cluster without a leader for good. Once
   * the leader's view shows the change settled, a victim no longer listed is brought back afresh.
   */
  private async rejoin(id: string, removalCommitted: boolean): Promise<void> {
    const deadline = Date.now() + 90_000;
    if (!removalCommitted) {
      await this.restart(id);
      let last = 'no leader agreed on';
      for (;;) {
        const view = await this.leaderView();
        if (view?.voters.includes(id)) return; // the removal did not happen (or was undone): a voter, on its own data
        if (view && !view.others.includes(id)) break;
        if (view) last = `${view.leader} lists ${id} as an outgoing voter`;
        if (Date.now() >= deadline) throw new Error(`the removal of ${id} did not settle within 90 s (last: ${last})`);
        await new Promise((r) => setTimeout(r, 300));
      }
      this.record('heal', `the removal of ${id} finished once it was back on its own data`);
      await this.cluster.kill(id, 'SIGKILL');
    }
    for (let attempt = 0; !this.cluster.isRunning(id); attempt++) {
      try {
        await this.cluster.startJoiner(id, { keepAddresses: true });
      } catch (error) {
        if (attempt >= 10) throw error;
        this.log(`nemesis: starting ${id} afresh failed (${(error as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const config = this.cluster.configs.get(id)!;
    const body = JSON.stringify({ id, raftAddress: config.raftAddress, httpAddress: config.httpAddress, voter: true });
    const isVoter = async (): Promise<boolean> => (await this.leaderView())?.voters.includes(id) === true;
    let last = '';
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (await isVoter()) {
        this.record('heal', `restarted ${id} afresh (new data directory ${config.dataDir}) and it is a voter again`);
        return;
      }
      const others = this.endpoints.filter((e) => e.id !== id);
      const via = others[attempt % others.length]!;
      const result = await this.http.send(via, 'POST', '/v1/members', body);
      last = `add ${id} via ${via.id}: ${describeResult(result)}`;
      // A learner once this answers 200: the leader promotes it once it has caught up (asked
      // again after a while, as a new leader would not know the promotion was asked for).
      if (result.kind !== 'response' || result.status !== 200) this.log(`nemesis: ${last}; retrying`);
      for (let wait = 0; wait < 10 && !(await isVoter()); wait++) await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`${id} did not become a voter again within 90 s (last: ${last})`);
  }

  private async restart(id: string): Promise<void> {
    for (let attempt = 0; !this.cluster.isRunning(id); attempt++) {
      try {
        await this.cluster.startNode(id);
        this.record('heal', `restarted ${id}`);
      } catch (error) {
        if (attempt >= 10) throw error;
        this.log(`nemesis: restart of ${id} failed (${(error as Error).message}); retrying`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Repairs whatever is broken: the fault in progress, then every node (running, resumed, linked). */
  async healAll(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    if (active?.repair) await active.repair();
    for (const id of this.cluster.ids) {
      if (!this.cluster.isRunning(id)) await this.restart(id);
      this.cluster.resume(id);
    }
    await Promise.all(this.cluster.ids.map((id) => this.cluster.request(id, 'heal', {}, 5000)));
    this.record('heal', 'all nodes running, resumed and connected');
  }
}

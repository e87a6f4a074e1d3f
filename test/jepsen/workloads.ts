/**
 * The clients: closed loops that each issue one operation at a time against the KV service's HTTP
 * API, spread over every node, on a small set of keys, and record every operation with its
 * invocation and completion times and its outcome.
 */
import type { ListOp, Outcome, RegisterOp } from './checker/index.js';
import { describeResult, outcomeOf, type Endpoint, type HttpClient, type HttpResult } from './http.js';
import type { Rng } from './random.js';

export type Consistency = 'linearizable' | 'lease';

/**
 * `slots` keys are in use at any time (contention); a key is retired after `opsPerKey` operations
 * and its slot gets a fresh key, which bounds each key's history (the checker's cost).
 */
export class KeySpace {
  private readonly current: { key: string; ops: number }[];
  private generation = 0;
  readonly all: string[] = [];

  constructor(slots: number, private readonly opsPerKey: number, private readonly prefix: string) {
    this.current = Array.from({ length: slots }, () => this.fresh());
  }

  private fresh(): { key: string; ops: number } {
    const key = `${this.prefix}${this.generation++}`;
    this.all.push(key);
    return { key, ops: 0 };
  }

  get slots(): number {
    return this.current.length;
  }

  /** The key of a slot for one more operation. */
  take(slot: number): string {
    let entry = this.current[slot]!;
    if (entry.ops >= this.opsPerKey) entry = this.current[slot] = this.fresh();
    entry.ops++;
    return entry.key;
  }
}

export interface ClientContext {
  readonly endpoints: readonly Endpoint[];
  readonly consistency: Consistency;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  readonly nextId: () => number;
}

const path = (key: string, suffix = ''): string => `/v1/kv/${encodeURIComponent(key)}${suffix}`;

function parseJson(result: HttpResult): Record<string, unknown> | undefined {
  if (result.kind !== 'response') return undefined;
  try {
    return JSON.parse(result.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A read: 200 with the value, or 404 (absent). Anything else tells nothing (fail or unknown). */
async function getValue(http: HttpClient, endpoint: Endpoint, key: string, consistency: Consistency): Promise<{ outcome: Outcome; value?: string | null; error?: string }> {
  const result = await http.send(endpoint, 'GET', path(key, consistency === 'linearizable' ? '' : `?consistency=${consistency}`));
  if (result.kind === 'response' && result.status === 200) return { outcome: 'ok', value: result.body.toString('utf8') };
  if (result.kind === 'response' && result.status === 404 && parseJson(result)?.['error'] === 'not_found') return { outcome: 'ok', value: null };
  return { outcome: outcomeOf(result) === 'ok' ? 'unknown' : outcomeOf(result), error: describeResult(result) };
}

/** A cas: 200 with {"ok": bool}. */
async function casValue(http: HttpClient, endpoint: Endpoint, key: string, expect: string | null, value: string | null): Promise<{ outcome: Outcome; ok?: boolean; error?: string }> {
  const result = await http.send(endpoint, 'POST', path(key, '/cas'), JSON.stringify({ expect, value }));
  const outcome = outcomeOf(result);
  if (outcome !== 'ok') return { outcome, error: describeResult(result) };
  const ok = parseJson(result)?.['ok'];
  if (typeof ok !== 'boolean') return { outcome: 'unknown', error: `cas answered 200 without "ok": ${describeResult(result)}` };
  return { outcome, ok };
}

/** Register workload: read / write / cas / delete on each key. */
export class RegisterClient {
  private n = 0;
  /** The last value this client saw or wrote per key: what its cas operations expect. */
  private readonly known = new Map<string, string | null>();

  constructor(
    readonly process: number,
    private readonly rng: Rng,
    private readonly http: HttpClient,
    private readonly keys: KeySpace,
    private readonly ctx: ClientContext,
  ) {}

  /** Performs one operation and returns its record. */
  async step(): Promise<RegisterOp> {
    // A fixed number of draws per operation keeps the client's stream aligned with the seed.
    const [kind, slot, node, aux1, aux2] = [this.rng.next(), this.rng.int(this.keys.slots), this.rng.int(this.ctx.endpoints.length), this.rng.next(), this.rng.next()];
    const key = this.keys.take(slot);
    const endpoint = this.ctx.endpoints[node]!;
    const value = `${this.process}.${this.n++}`;
    const common = { id: this.ctx.nextId(), process: this.process, key, node: endpoint.id };
    const call = this.ctx.now();
    if (kind < 0.4) {
      const r = await getValue(this.http, endpoint, key, this.ctx.consistency);
      if (r.outcome === 'ok') this.known.set(key, r.value!);
      return { ...common, f: 'read', call, ret: this.ctx.now(), outcome: r.outcome, ...(r.outcome === 'ok' ? { value: r.value! } : {}), ...(r.error ? { error: r.error } : {}) };
    }
    if (kind < 0.65) {
      const result = await this.http.send(endpoint, 'PUT', path(key), value);
      const outcome = outcomeOf(result);
      if (outcome === 'ok') this.known.set(key, value);
      return { ...common, f: 'write', value, call, ret: this.ctx.now(), outcome, ...(outcome === 'ok' ? {} : { error: describeResult(result) }) };
    }
    if (kind < 0.9) {
      const expect = aux1 < 0.85 ? (this.known.get(key) ?? null) : null;
      const next = aux2 < 0.1 ? null : value;
      const r = await casValue(this.http, endpoint, key, expect, next);
      if (r.outcome === 'ok' && r.ok) this.known.set(key, next);
      return { ...common, f: 'cas', expect, value: next, call, ret: this.ctx.now(), outcome: r.outcome, ...(r.ok === undefined ? {} : { ok: r.ok }), ...(r.error ? { error: r.error } : {}) };
    }
    const result = await this.http.send(endpoint, 'DELETE', path(key));
    const outcome = outcomeOf(result);
    const deleted = outcome === 'ok' ? parseJson(result)?.['deleted'] : undefined;
    if (outcome === 'ok' && typeof deleted !== 'boolean') {
      return { ...common, f: 'delete', call, ret: this.ctx.now(), outcome: 'unknown', error: `delete answered 200 without "deleted"` };
    }
    if (outcome === 'ok') this.known.set(key, null);
    return { ...common, f: 'delete', call, ret: this.ctx.now(), outcome, ...(typeof deleted === 'boolean' ? { deleted } : {}), ...(outcome === 'ok' ? {} : { error: describeResult(result) }) };
  }
}

/** Lists are stored as their values joined by commas (values never hold one). */
export const decodeList = (raw: string | null): string[] => (raw === null || raw === '' ? [] : raw.split(','));

/** List-append workload over the KV API: append = read the list, then cas it to the list + value. */
export class ListAppendClient {
  private n = 0;

  constructor(
    readonly process: number,
    private readonly rng: Rng,
    private readonly http: HttpClient,
    private readonly keys: KeySpace,
    private readonly ctx: ClientContext,
    private readonly deadlineMs: number,
  ) {}

  async step(): Promise<ListOp> {
    const [kind, slot, node] = [this.rng.next(), this.rng.int(this.keys.slots), this.rng.int(this.ctx.endpoints.length)];
    const key = this.keys.take(slot);
    const endpoint = this.ctx.endpoints[node]!;
    const common = { id: this.ctx.nextId(), process: this.process, key, node: endpoint.id };
    const call = this.ctx.now();
    if (kind < 0.5) {
      const r = await getValue(this.http, endpoint, key, this.ctx.consistency);
      return { ...common, f: 'read', call, ret: this.ctx.now(), outcome: r.outcome, ...(r.outcome === 'ok' ? { list: decodeList(r.value!) } : {}), ...(r.error ? { error: r.error } : {}) };
    }
    const value = `${this.process}.${this.n++}`;
    const append = (outcome: Outcome, error?: string): ListOp => ({ ...common, f: 'append', value, call, ret: this.ctx.now(), outcome, ...(error ? { error } : {}) });
    // Retry a lost cas race (definitely not done) while there is time; the value stays unique.
    for (let attempt = 0; ; attempt++) {
      const current = await getValue(this.http, endpoint, key, 'linearizable');
      if (current.outcome !== 'ok') return append('fail', `read before append: ${current.error}`); // nothing was written
      const raw = current.value!;
      const r = await casValue(this.http, endpoint, key, raw, raw === null || raw === '' ? value : `${raw},${value}`);
      if (r.outcome !== 'ok') return append(r.outcome, r.error);
      if (r.ok) return append('ok');
      if (attempt >= 2 || this.ctx.now() - call > this.deadlineMs / 2) return append('fail', 'cas lost the race');
    }
  }
}

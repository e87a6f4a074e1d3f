import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quorumActive, type ConfigState, type RaftNodeTuning } from '@flotilla/core';
import { toConfigFile, type LogLevel, type NodeConfig } from './config.js';
import { ControlServer, type ControlEndpoint } from './control.js';

/**
 * V8 flags for every node process (bin/flotilla.mjs passes the same to the CLI). V8 sets the old
 * generation's limit from what is live after each full collection; a node that idles or runs
 * lightly for a while ends with a live heap of about 11 MB and a limit near 34 MB, and under load
 * afterwards it then started a full collection every quarter of a second (a follower at C = 256:
 * about 4 a second, up to 15 ms each). Starting from 128 MB keeps that limit higher. Measured back
 * to back in the order of a full `pnpm bench` (C = 1, 32, 256): C = 256 p99 2.7-3.0 against
 * 3.2-4.4 ms and p99.9 4.3-5.2 against 8.7-10.1 ms, C = 32 p99.9 3.4-4.7 against 6.0-6.9 ms, and
 * the leader's RSS at the end 131-139 against 147-156 MiB.
 */
export const NODE_PROCESS_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

export interface LocalClusterOptions {
  readonly size: number;
  readonly baseDir: string;
  readonly clusterId?: string;
  readonly secret?: string;
  readonly tuning?: Partial<RaftNodeTuning>;
  /** Keep the list of applied commands in each node (for exactly-once checks). */
  readonly keepEntries?: boolean;
  readonly forwardProposals?: boolean;
  /** Events from the nodes: state changes, errors, progress. */
  readonly onEvent?: (event: Record<string, unknown>) => void;
  /** Fixed ports: node i listens for peers on basePort + i and serves HTTP on basePort + 100 + i. */
  readonly basePort?: number;
  /** The ledger keeps a SHA-256 digest of what it applied (default true; benchmarks turn it off). */
  readonly ledgerHashing?: boolean;
  /** What each node runs: the test ledger (default) or the KV service. */
  readonly service?: 'ledger' | 'kv';
  /** Extra node flags for every node process (e.g. --cpu-prof), after NODE_PROCESS_FLAGS (a later flag wins). */
  readonly nodeArgs?: readonly string[];
  /** Per-request deadline in ms (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Serve a control port for the dashboard's stop/start buttons (see ControlServer; default false). */
  readonly control?: boolean;
  /** Each node's log level (default warn); nodes log JSON lines to stderr. */
  readonly logLevel?: LogLevel;
  /** Bytes per WAL segment of every node (NodeConfig.walSegmentBytes; small: far-behind followers get snapshots). */
  readonly walSegmentBytes?: number;
  /** UNSAFE test switches of the KV service, off by default (see KvApiOptions): for the fault tests only. */
  readonly kvUnsafeTestSwitches?: { readonly localReads?: boolean; readonly earlyAcks?: boolean };
}

export type Reply = Record<string, unknown> & { ok: boolean };

interface Child {
  process: ChildProcess;
  pending: Map<number, (reply: Reply) => void>;
  exited: Promise<number | null>;
}

const CHILD = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './child.ts' : './child.js', import.meta.url));

/**
 * The kernel's range for ephemeral ports (Linux), or undefined where it cannot be read. Ports a
 * test cluster listens on are taken from below it: a port found free by binding port 0 comes from
 * this range, and between the probe and the node's own bind any outgoing connection on the machine
 * (a client dialing a peer in a test running beside it) may be given it. Seen in CI: a node exited
 * at start with "cannot listen for HTTP on 127.0.0.1:42469 (in use?)".
 */
function ephemeralRange(): [number, number] | undefined {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(lo) && Number.isInteger(hi) && lo! > 0 && hi! >= lo! ? [lo!, hi!] : undefined;
  } catch {
    return undefined;
  }
}

/** Listens on 127.0.0.1:`port` and closes again; resolves to the port bound, or 0 if it is taken. */
function probePort(port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(0) : reject(error)));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Lowest port handed out below the ephemeral range (above the well-known and common service ports). */
const LOW_PORT_FLOOR = 10_000;

/** Where processes on this machine note the ports they handed out, so two never get the same one. */
const RESERVATIONS = join(tmpdir(), 'flotilla-port-reservations');
/** A reservation covers the time from the probe to the node's own bind; older ones are ignored. */
const RESERVATION_MS = 120_000;

/**
 * Notes `port` as handed out; false if another process (or this one) did so recently. Two test
 * files starting clusters at the same moment could otherwise both find the same port free.
 */
function reserve(port: number): boolean {
  const path = join(RESERVATIONS, String(port));
  try {
    mkdirSync(RESERVATIONS, { recursive: true });
    writeFileSync(path, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return true; // no shared directory: the probe alone decides
    try {
      if (Date.now() - statSync(path).mtimeMs < RESERVATION_MS) return false;
      writeFileSync(path, String(process.pid));
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Free TCP ports on 127.0.0.1 for test clusters: random ports below the kernel's ephemeral range,
 * each checked by binding it and reserved for two minutes against other processes on the machine
 * (when that range cannot be read or leaves no room, ports found by binding port 0).
 */
export async function freePorts(count: number): Promise<number[]> {
  const range = ephemeralRange();
  const below = range && range[0] - LOW_PORT_FLOOR >= 1000 ? range[0] : undefined;
  const ports: number[] = [];
  for (let attempts = 0; ports.length < count; attempts++) {
    if (attempts > 1000 + count * 10) throw new Error(`could not find ${count} free ports on 127.0.0.1`);
    const wanted = below === undefined ? 0 : LOW_PORT_FLOOR + Math.floor(Math.random() * (below - LOW_PORT_FLOOR));
    const port = await probePort(wanted);
    if (port > 0 && !ports.includes(port) && reserve(port)) ports.push(port);
  }
  return ports;
}

/** A cluster of node processes on 127.0.0.1, each with its own data directory. */
export class LocalCluster {
  readonly ids: string[];
  readonly configs = new Map<string, NodeConfig>();
  private readonly children = new Map<string, Child>();
  private seq = 0;
  private readonly incarnations = new Map<string, number>();
  private control: ControlServer | undefined;

  private constructor(private readonly options: LocalClusterOptions, ports: number[]) {
    this.ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
    const addresses = Object.fromEntries(this.ids.map((id, i) => [id, `127.0.0.1:${ports[i]}`]));
    const httpAddresses = Object.fromEntries(this.ids.map((id, i) => [id, `127.0.0.1:${ports[options.size + i]}`]));
    for (const id of this.ids) {
      this.configs.set(id, {
        id,
        clusterId: options.clusterId ?? 'flotilla-local',
        secret: options.secret ?? 'local-secret',
        raftAddress: addresses[id]!,
        httpAddress: httpAddresses[id]!,
        peers: Object.fromEntries(Object.entries(addresses).filter(([peer]) => peer !== id)),
        peerHttp: Object.fromEntries(Object.entries(httpAddresses).filter(([peer]) => peer !== id)),
        dataDir: join(options.baseDir, id),
        forwardProposals: options.forwardProposals ?? false,
        logLevel: options.logLevel ?? 'warn',
        ...(options.walSegmentBytes ? { walSegmentBytes: options.walSegmentBytes } : {}),
        tuning: options.tuning ?? {},
      });
    }
  }

  static async start(options: LocalClusterOptions): Promise<LocalCluster> {
    const ports = options.basePort
      ? [...Array.from({ length: options.size }, (_, i) => options.basePort! + i), ...Array.from({ length: options.size }, (_, i) => options.basePort! + 100 + i)]
      : await freePorts(2 * options.size);
    const cluster = new LocalCluster(options, ports);
    await mkdir(options.baseDir, { recursive: true });
    if (options.control) {
      cluster.control = new ControlServer({
        ids: cluster.ids,
        isRunning: (id) => cluster.isRunning(id),
        stopNode: (id) => cluster.kill(id, 'SIGTERM', 5000),
        startNode: (id) => cluster.startNode(id),
        httpAddress: (id) => cluster.configs.get(id)?.httpAddress,
      });
      await cluster.control.listen();
    }
    try {
      await Promise.all(cluster.ids.map((id) => cluster.startNode(id)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The control port for the dashboard's buttons, if this cluster serves one (option `control`). */
  get controlEndpoint(): ControlEndpoint | undefined {
    return this.control?.endpoint;
  }

  /** Starts (or restarts) one node process and waits until it is ready. */
  async startNode(id: string, config: NodeConfig = this.configs.get(id)!): Promise<void> {
    if (this.children.has(id)) throw new Error(`${id} is already running`);
    const execArgv = [...(CHILD.endsWith('.ts') ? ['--import', 'tsx', '--conditions=flotilla-source'] : []), ...NODE_PROCESS_FLAGS, ...(this.options.nodeArgs ?? [])];
    const child = fork(CHILD, [], {
      execArgv,
      env: {
        ...process.env,
        FLOTILLA_NODE_CONFIG: JSON.stringify(toConfigFile(config)),
        FLOTILLA_KEEP_ENTRIES: this.options.keepEntries ? '1' : '0',
        FLOTILLA_SERVICE: this.options.service ?? 'ledger',
        FLOTILLA_LEDGER_HASHING: this.options.ledgerHashing === false ? '0' : '1',
        ...(this.control ? { FLOTILLA_CONTROL_URL: this.control.endpoint.url, FLOTILLA_CONTROL_TOKEN: this.control.token } : {}),
        FLOTILLA_KV_UNSAFE_TEST: [this.options.kvUnsafeTestSwitches?.localReads ? 'local-reads' : '', this.options.kvUnsafeTestSwitches?.earlyAcks ? 'early-acks' : ''].filter((s) => s).join(','),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const entry: Child = {
      process: child,
      pending: new Map(),
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    this.children.set(id, entry);
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${id} exited with code ${code} before it was ready`)));
      child.on('message', (message: Record<string, unknown>) => {
        if (message['event'] === 'ready') resolve();
        if (typeof message['re'] === 'number') {
          const done = entry.pending.get(message['re']);
          entry.pending.delete(message['re']);
          done?.(message as Reply);
        } else if (message['event']) {
          this.options.onEvent?.(message);
        }
      });
    });
    void entry.exited.then(() => {
      for (const done of entry.pending.values()) done({ ok: false, error: { code: 'EXITED', message: `${id} exited` } });
      entry.pending.clear();
      if (this.children.get(id) === entry) this.children.delete(id);
    });
    await ready;
  }

  /**
   * Starts an extra node in join mode (it waits to be added by the leader: POST /v1/members), with
   * fresh ports and its own data directory, knowing every node of `ids` as a peer. Reusing the id of
   * a node that was removed starts it afresh (new ports, new data directory). The node is added to
   * `ids`; ask the cluster to add it, e.g. with {@link addMember}. With `keepAddresses`, a node
   * that ran before keeps its Raft and HTTP addresses (a removed member coming back afresh at the
   * same place, so that clients holding its address reach it again).
   */
  async startJoiner(id = this.nextId(), options: { dataDir?: string; tuning?: Partial<RaftNodeTuning>; keepAddresses?: boolean } = {}): Promise<NodeConfig> {
    if (this.children.has(id)) throw new Error(`${id} is already running`);
    const previous = options.keepAddresses ? this.configs.get(id) : undefined;
    const [raftPort, httpPort] = previous ? [0, 0] : await freePorts(2);
    const known = this.ids.filter((peer) => peer !== id && this.configs.has(peer));
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, incarnation);
    const config: NodeConfig = {
      id,
      clusterId: this.options.clusterId ?? 'flotilla-local',
      secret: this.options.secret ?? 'local-secret',
      raftAddress: previous?.raftAddress ?? `127.0.0.1:${raftPort}`,
      httpAddress: previous?.httpAddress ?? `127.0.0.1:${httpPort}`,
      peers: Object.fromEntries(known.map((peer) => [peer, this.configs.get(peer)!.raftAddress])),
      peerHttp: Object.fromEntries(known.map((peer) => [peer, this.configs.get(peer)!.httpAddress!])),
      dataDir: options.dataDir ?? join(this.options.baseDir, this.configs.has(id) || incarnation > 1 ? `${id}.${incarnation}` : id),
      forwardProposals: this.options.forwardProposals ?? false,
      logLevel: this.options.logLevel ?? 'warn',
      join: true,
      ...(this.options.walSegmentBytes ? { walSegmentBytes: this.options.walSegmentBytes } : {}),
      tuning: options.tuning ?? this.options.tuning ?? {},
    };
    this.configs.set(id, config);
    if (!this.ids.includes(id)) this.ids.push(id);
    await this.startNode(id, config);
    return config;
  }

  private nextId(): string {
    for (let i = this.ids.length + 1; ; i++) if (!this.configs.has(`n${i}`)) return `n${i}`;
  }

  /**
   * Asks the cluster (through `via`, any running node; it forwards to the leader) to add `id` as a
   * learner, promoted to voter once caught up if `voter`, with the addresses of its config. Returns
   * the HTTP status and JSON body of POST /v1/members.
   */
  async addMember(id: string, voter: boolean, via = this.ids.find((n) => n !== id && this.isRunning(n))!): Promise<{ status: number; body: Record<string, unknown> }> {
    const config = this.configs.get(id)!;
    return this.memberRequest(via, 'POST', '/v1/members', { id, raftAddress: config.raftAddress, httpAddress: config.httpAddress, voter });
  }

  /** Asks the cluster (through `via`) to remove `id`: DELETE /v1/members/{id}. */
  async removeMember(id: string, via = this.ids.find((n) => n !== id && this.isRunning(n))!): Promise<{ status: number; body: Record<string, unknown> }> {
    return this.memberRequest(via, 'DELETE', `/v1/members/${encodeURIComponent(id)}`);
  }

  private async memberRequest(via: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`http://${this.configs.get(via)!.httpAddress}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** Stops a node (gracefully, then by force) and drops it from `ids`: for a member that was removed. */
  async retire(id: string): Promise<void> {
    await this.kill(id, 'SIGTERM', 3000);
    const at = this.ids.indexOf(id);
    if (at >= 0) this.ids.splice(at, 1);
  }

  /** Base URLs of the nodes' HTTP APIs. */
  httpEndpoints(): string[] {
    return this.ids.map((id) => `http://${this.configs.get(id)!.httpAddress}`);
  }

  isRunning(id: string): boolean {
    return this.children.has(id);
  }

  /** Sends one request to a node and waits for its reply (or a deadline). */
  request(id: string, op: string, args: Record<string, unknown> = {}, timeoutMs = this.options.requestTimeoutMs ?? 30_000): Promise<Reply> {
    const child = this.children.get(id);
    if (!child) return Promise.resolve({ ok: false, error: { code: 'DOWN', message: `${id} is not running` } });
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.pending.delete(seq);
        resolve({ ok: false, error: { code: 'NO_REPLY', message: `${id} did not answer ${op} within ${timeoutMs} ms` } });
      }, timeoutMs);
      child.pending.set(seq, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      // With a callback, a send on the channel of a process that has just died (before its exit
      // event) reports there instead of as an 'error' event nobody handles, which ended the caller.
      child.process.send({ seq, op, ...args }, (error) => {
        if (!error) return;
        clearTimeout(timer);
        child.pending.delete(seq);
        resolve({ ok: false, error: { code: 'DOWN', message: `${id} is not reachable: ${error.message}` } });
      });
    });
  }

  /** The id of the node that says it leads and that a quorum of its configuration names as leader, waiting up to timeoutMs. */
  async waitForLeader(timeoutMs = 10_000, among: readonly string[] = this.ids): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const statuses = await Promise.all(among.filter((id) => this.isRunning(id)).map((id) => this.request(id, 'status', {}, 2000)));
      for (const claimed of statuses.filter((s) => s.ok && s['role'] === 'leader')) {
        const id = claimed['id'] as string;
        const agreeing = new Set(statuses.filter((s) => s.ok && s['leader'] === id).map((s) => s['id'] as string));
        if (recognizedByQuorum(claimed['config'], agreeing, among.length)) return id;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no leader among ${among.join(', ')} within ${timeoutMs} ms`);
  }

  /**
   * Kills a node process (SIGKILL by default: no cleanup, as a crash) and waits for it to exit;
   * with `graceMs`, sends SIGKILL if it has not exited by then.
   */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL', graceMs?: number): Promise<void> {
    const child = this.children.get(id);
    if (!child) return;
    child.process.kill(signal);
    const timer = graceMs === undefined ? undefined : setTimeout(() => child.process.kill('SIGKILL'), graceMs);
    await child.exited;
    clearTimeout(timer);
  }

  pause(id: string): void {
    this.children.get(id)?.process.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.children.get(id)?.process.kill('SIGCONT');
  }

  /** Stops every node: gracefully, then by force after a grace period. */
  async stop(): Promise<void> {
    await this.control?.close();
    this.control = undefined;
    await Promise.all(
      [...this.children.keys()].map(async (id) => {
        const child = this.children.get(id)!;
        child.process.kill('SIGCONT');
        void this.request(id, 'stop', {}, 3000);
        const timer = setTimeout(() => child.process.kill('SIGKILL'), 3000);
        await child.exited;
        clearTimeout(timer);
      }),
    );
  }
}

/**
 * Whether the nodes in `agreeing` (which name the claimed leader as theirs, itself included) make a
 * quorum of the claimed leader's own configuration (core's quorumActive: both halves while joint).
 * Counting a majority of every process instead would miss a leader of a cluster that has removed
 * members, while a removed member, still running and no longer heard, names no leader. Without a
 * configuration to go by: a majority of `count` nodes.
 */
export function recognizedByQuorum(config: unknown, agreeing: ReadonlySet<string>, count: number): boolean {
  const reported = config as Partial<ConfigState> | undefined;
  if (!Array.isArray(reported?.voters) || reported.voters.length === 0) return agreeing.size > count / 2;
  const halves: ConfigState = { voters: reported.voters, learners: [], outgoingVoters: Array.isArray(reported.outgoingVoters) ? reported.outgoingVoters : [] };
  return quorumActive(halves, (id) => agreeing.has(id));
}

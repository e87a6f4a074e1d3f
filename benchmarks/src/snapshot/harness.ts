/** Starts the snapshot benchmark's processes (child.ts) and talks to them over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RaftNodeTuning } from '@flotilla/core';

export interface NodeChildConfig {
  readonly role: 'node';
  readonly id: string;
  readonly dataDir: string;
  /** This node's transport port on 127.0.0.1. */
  readonly port: number;
  /** The voters of a new cluster (ignored with join). */
  readonly members: readonly string[];
  readonly join: boolean;
  /** Other nodes: id → host:port. */
  readonly peers: Readonly<Record<string, string>>;
  /** 'generated': a snapshot of `generatedBytes` made on the fly; 'arena': keeps every command. */
  readonly machine: 'generated' | 'arena';
  readonly generatedBytes?: number;
  readonly tuning: Partial<RaftNodeTuning>;
  /** FileStorage segment size (compaction drops whole segments). */
  readonly segmentBytes: number;
}

export interface NetChildConfig {
  readonly role: 'net';
}

export type Reply = Record<string, unknown>;

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

/** One benchmark process. A request fails if the process reports a node error or exits. */
export class BenchProcess {
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    void this.exited.then((code) => this.fail(new Error(`${name} exited (code ${code})`)));
    child.on('message', (m: Record<string, unknown>) => {
      if (typeof m['re'] === 'number') {
        const p = this.pending.get(m['re']);
        this.pending.delete(m['re']);
        if (m['ok']) p?.resolve(m);
        else p?.reject(new Error(`${name}: ${String(m['error'])}`));
      } else if (m['event'] === 'error') {
        this.fail(new Error(`${name} failed: ${String(m['message'])}`));
      } else if (m['event'] === 'warning') {
        console.warn(`  (${name} warning: ${String(m['message'])})`);
      }
    });
  }

  static async start(name: string, config: NodeChildConfig | NetChildConfig, nodeArgs: readonly string[] = []): Promise<BenchProcess> {
    const child = fork(CHILD, [], {
      execArgv: ['--import', 'tsx', '--conditions=flotilla-source', ...nodeArgs],
      env: { ...process.env, FLOTILLA_SNAPSHOT_BENCH: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const proc = new BenchProcess(name, child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${name} exited with code ${code} before it was ready`)));
      child.on('message', (m: Record<string, unknown>) => {
        if (m['event'] === 'ready') resolve();
      });
    });
    return proc;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  request(op: string, args: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${this.name} did not answer ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ seq, op, ...args });
    });
  }

  /** Asks the process to stop, and kills it if it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.failure ??= new Error(`${this.name} is stopping`);
    if (this.child.connected) this.child.send({ seq: 0, op: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Waits until `check` holds, polling every 20 ms, or throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

import { createHash } from 'node:crypto';
import type { LocalCluster } from '@flotilla/examples';

export const hashOf = (payload: string): string => createHash('sha256').update(payload).digest('hex').slice(0, 16);

/** Closed-loop proposers that follow the leader around and record what was acknowledged. */
export class Proposers {
  readonly acknowledged: { payload: string; index: number }[] = [];
  readonly unknown: string[] = [];
  private running = true;
  private leader: string | undefined;
  private readonly loops: Promise<void>[];

  constructor(private readonly cluster: LocalCluster, workers: number) {
    this.loops = Array.from({ length: workers }, (_, w) => this.loop(w));
  }

  private async loop(worker: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const payload = `w${worker}-${n}`;
      const target = this.leader ?? this.cluster.ids[n % this.cluster.ids.length]!;
      const reply = await this.cluster.request(target, 'propose', { data: Buffer.from(payload).toString('base64'), timeoutMs: 3000 }, 5000);
      if (reply.ok) {
        this.acknowledged.push({ payload, index: reply['index'] as number });
        continue;
      }
      const error = reply['error'] as { code: string; leaderId?: string };
      if (error.code === 'NOT_LEADER') this.leader = error.leaderId && this.cluster.isRunning(error.leaderId) ? error.leaderId : undefined;
      else {
        this.unknown.push(payload);
        this.leader = undefined;
      }
      if (!this.leader) await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** Waits until every running node has applied the same sequence (same index and digest). */
export async function converge(cluster: LocalCluster, timeoutMs = 20_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  let digests: Record<string, unknown>[] = [];
  while (Date.now() < deadline) {
    digests = await Promise.all(cluster.ids.map((id) => cluster.request(id, 'digest')));
    if (digests.every((d) => d.ok && d['digest'] === digests[0]!['digest'])) return digests;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`nodes did not converge: ${JSON.stringify(digests)}`);
}

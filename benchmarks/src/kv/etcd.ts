import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePorts } from '@flotilla/examples';

export const ETCD = '/usr/bin/etcd';

export function etcdAvailable(): boolean {
  return existsSync(ETCD);
}

export function etcdVersion(): string {
  const out = spawnSync(ETCD, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /etcd Version: (\S+)/.exec(out)?.[1] ?? 'unknown';
}

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  process?: ChildProcess;
  exited?: Promise<void>;
}

/**
 * A 3-member etcd cluster on 127.0.0.1 (Debian's etcd-server), each member its own process with
 * its own data directory under `baseDir`, started and stopped by the benchmark. Clients use the
 * HTTP/JSON gateway (`/v3/kv/put`).
 */
export class EtcdCluster {
  private constructor(readonly members: Member[]) {}

  static async start(baseDir: string, size = 3): Promise<EtcdCluster> {
    const ports = await freePorts(2 * size);
    const members: Member[] = Array.from({ length: size }, (_, i) => ({
      name: `e${i + 1}`,
      clientPort: ports[i]!,
      peerPort: ports[size + i]!,
      dataDir: join(baseDir, `e${i + 1}`),
      logFile: join(baseDir, `e${i + 1}.log`),
    }));
    const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
    const cluster = new EtcdCluster(members);
    for (const m of members) {
      await mkdir(m.dataDir, { recursive: true });
      const fd = openSync(m.logFile, 'a');
      const child = spawn(
        ETCD,
        [
          '--name', m.name,
          '--data-dir', m.dataDir,
          '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
          '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
          '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
          '--initial-cluster', initial,
          '--initial-cluster-state', 'new',
          '--initial-cluster-token', 'flotilla-bench',
          '--logger', 'zap',
          '--log-level', 'warn',
        ],
        { stdio: ['ignore', fd, fd] },
      );
      closeSync(fd);
      m.process = child;
      m.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    }
    try {
      await cluster.waitHealthy(30_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  endpoint(m: Member): string {
    return `http://127.0.0.1:${m.clientPort}`;
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const healthy = await Promise.all(
        this.members.map(async (m) => {
          try {
            const r = await fetch(`${this.endpoint(m)}/health`, { signal: AbortSignal.timeout(1000) });
            return ((await r.json()) as { health?: string }).health === 'true';
          } catch {
            return false;
          }
        }),
      );
      if (healthy.every(Boolean)) return;
      for (const m of this.members) {
        if (m.process?.exitCode !== null && m.process?.exitCode !== undefined) throw new Error(`etcd ${m.name} exited: ${readFileSync(m.logFile, 'utf8').slice(-2000)}`);
      }
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The member that leads now (asked of every member's maintenance status). */
  async leader(): Promise<Member> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      for (const m of this.members) {
        try {
          const r = await fetch(`${this.endpoint(m)}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
          const status = (await r.json()) as { header?: { member_id?: string }; leader?: string };
          if (status.leader && status.header?.member_id === status.leader) return m;
        } catch {
          // not answering yet
        }
      }
      if (Date.now() > deadline) throw new Error('no etcd leader');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        if (!m.process || m.process.exitCode !== null) return;
        m.process.kill('SIGTERM');
        const timer = setTimeout(() => m.process?.kill('SIGKILL'), 5000);
        await m.exited;
        clearTimeout(timer);
      }),
    );
  }
}

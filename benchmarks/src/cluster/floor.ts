import { spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

/** fdatasync latency after a 4 KiB append to a growing file, in µs (p50, p99). */
export function measureFdatasync(dir: string, iterations: number): { p50Us: number; p99Us: number } {
  const scratch = mkdtempSync(join(dir, 'floor-'));
  const fd = openSync(join(scratch, 'append'), 'w');
  const block = Buffer.alloc(4096, 1);
  const samples: number[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      writeSync(fd, block);
      const t0 = performance.now();
      fdatasyncSync(fd);
      samples.push((performance.now() - t0) * 1000);
    }
  } finally {
    closeSync(fd);
    rmSync(scratch, { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  return { p50Us: percentile(samples, 0.5), p99Us: percentile(samples, 0.99) };
}

/** Round trip of a 128-byte message over loopback TCP between two processes' worth of sockets, in µs. */
export async function measureRoundTrip(iterations: number): Promise<{ p50Us: number; p99Us: number }> {
  const server = createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const client: Socket = await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
  });
  client.setNoDelay(true);
  const message = Buffer.alloc(128, 2);
  const samples: number[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        let received = 0;
        const onData = (chunk: Buffer): void => {
          received += chunk.length;
          if (received >= message.length) {
            client.off('data', onData);
            resolve();
          }
        };
        client.on('data', onData);
        client.write(message);
      });
      samples.push((performance.now() - t0) * 1000);
    }
  } finally {
    client.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
  samples.sort((a, b) => a - b);
  return { p50Us: percentile(samples, 0.5), p99Us: percentile(samples, 0.99) };
}

export function defaultDataRoot(): string {
  return tmpdir();
}

/**
 * One follower of the replication-round floor, as a script for `node -e`: it connects to the
 * leader, and for each 128-byte message writes a record into a zero-filled file, fdatasyncs, and
 * answers with one byte. Plain Node, no Flotilla code.
 */
const FLOOR_FOLLOWER = `
const { openSync, writeSync, fdatasyncSync, fsyncSync } = require('node:fs');
const { connect } = require('node:net');
const [port, file, fileBytes] = process.argv.slice(1).map((a, i) => (i === 1 ? a : Number(a)));
const fd = openSync(file, 'w');
const zeros = Buffer.alloc(1 << 16);
for (let at = 0; at < fileBytes; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
fsyncSync(fd);
let offset = 0, pending = 0;
const record = Buffer.alloc(128, 3);
const ack = Buffer.alloc(1);
const socket = connect(port, '127.0.0.1', () => socket.setNoDelay(true));
socket.on('data', (chunk) => {
  pending += chunk.length;
  while (pending >= 128) {
    pending -= 128;
    writeSync(fd, record, 0, 128, offset);
    offset = (offset + 128) % fileBytes;
    fdatasyncSync(fd);
    socket.write(ack);
  }
});
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
`;

/**
 * The floor of one C = 1 replication round, paid the way the cluster has to pay it: a leader (this
 * process) and two follower processes on loopback, each writing into its own zero-filled file on
 * the same disk. A round sends 128 bytes to both followers, writes and fdatasyncs them locally, and
 * ends once the local write and one follower's acknowledgement are done (a majority of three). No
 * Raft, no WAL format, no thread hand-offs: what is left is the wake-ups across processes and the
 * three fdatasyncs sharing the disk. In µs (p50, p99).
 */
export async function measureReplicationRound(dir: string, iterations: number): Promise<{ p50Us: number; p99Us: number }> {
  const scratch = mkdtempSync(join(dir, 'floor-round-'));
  const fileBytes = 4 << 20;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const followers: Socket[] = [];
  const accepted = new Promise<void>((resolve) => {
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      followers.push(socket);
      if (followers.length === 2) resolve();
    });
  });
  const children = [0, 1].map((i) =>
    spawn(process.execPath, ['-e', FLOOR_FOLLOWER, String(port), join(scratch, `follower-${i}`), String(fileBytes)], { stdio: 'ignore' }),
  );
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    for (const child of children) child.once('exit', (code) => reject(new Error(`a floor follower exited (code ${code})`)));
    timer = setTimeout(() => reject(new Error('the floor followers did not answer within 30 s')), 30_000);
  });
  failed.catch(() => undefined);
  const fd = openSync(join(scratch, 'leader'), 'w');
  const samples: number[] = [];
  try {
    const zeros = Buffer.alloc(1 << 16);
    for (let at = 0; at < fileBytes; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
    fdatasyncSync(fd);
    await Promise.race([accepted, failed]);
    // Acknowledgements (one byte each) from either follower, counted as they are read.
    let acks = 0;
    let firstAckAt = 0;
    let wanted = 0;
    let wake: (() => void) | undefined;
    const onAck = (chunk: Buffer): void => {
      acks += chunk.length;
      if (firstAckAt === 0) firstAckAt = performance.now();
      if (acks >= wanted) wake?.();
    };
    for (const f of followers) f.on('data', onAck);
    const acksReach = (n: number): Promise<void> => {
      if (acks >= n) return Promise.resolve();
      wanted = n;
      return Promise.race([new Promise<void>((resolve) => (wake = resolve)), failed]);
    };
    const message = Buffer.alloc(128, 3);
    let offset = 0;
    for (let i = 0; i < iterations; i++) {
      const before = acks;
      firstAckAt = 0;
      const t0 = performance.now();
      for (const f of followers) f.write(message);
      // The leader's own write while the followers work; an acknowledgement that arrives meanwhile
      // is read once this is durable, which is the earliest the round could end anyway.
      writeSync(fd, message, 0, message.length, offset);
      fdatasyncSync(fd);
      const localDoneAt = performance.now();
      offset = (offset + 128) % fileBytes;
      await acksReach(before + 1);
      samples.push((Math.max(localDoneAt, firstAckAt) - t0) * 1000);
      // Both acknowledgements before the next round, so rounds do not overlap.
      await acksReach(before + 2);
    }
  } finally {
    clearTimeout(timer);
    closeSync(fd);
    for (const f of followers) f.destroy();
    for (const child of children) {
      child.removeAllListeners('exit');
      child.kill();
    }
    await new Promise((resolve) => server.close(resolve));
    rmSync(scratch, { recursive: true, force: true });
  }
  samples.sort((a, b) => a - b);
  return { p50Us: percentile(samples, 0.5), p99Us: percentile(samples, 0.99) };
}

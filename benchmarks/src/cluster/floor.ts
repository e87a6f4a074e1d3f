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

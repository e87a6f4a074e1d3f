import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePorts } from '../src/node/cluster.js';

const RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

test('freePorts gives distinct ports below the ephemeral range, where no outgoing connection can take them, and each can be bound', async () => {
  const ports = await freePorts(40);
  assert.equal(new Set(ports).size, 40);
  if (existsSync(RANGE_FILE)) {
    const [lo] = readFileSync(RANGE_FILE, 'utf8').trim().split(/\s+/).map(Number);
    for (const port of ports) assert.ok(port >= 10_000 && port < lo!, `port ${port} is not below the ephemeral range starting at ${lo}`);
  }
  for (const port of ports.slice(0, 5)) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('freePorts reserves what it hands out, so a second caller on the machine gets other ports', async () => {
  const first = await freePorts(30);
  const dir = join(tmpdir(), 'flotilla-port-reservations');
  for (const port of first) assert.ok(existsSync(join(dir, String(port))), `port ${port} is reserved`);
  const second = await freePorts(30);
  assert.deepEqual(second.filter((p) => first.includes(p)), []);
});

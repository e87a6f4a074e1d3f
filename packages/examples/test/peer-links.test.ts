import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigState } from '@flotilla/core';
import { PeerLinks } from '../src/node/peer-links.js';

const config = (voters: string[], learners: string[] = [], outgoingVoters: string[] = []): ConfigState => ({ voters, learners, outgoingVoters, autoPromote: [] }) as unknown as ConfigState;

function setup(staticPeers: Record<string, string> = { n2: '127.0.0.1:2', n3: '127.0.0.1:3' }) {
  const calls: string[] = [];
  const warnings: string[] = [];
  const links = new PeerLinks('n1', staticPeers, { addPeer: (id, address) => calls.push(`add ${id} ${address}`), removePeer: (id) => calls.push(`remove ${id}`) }, (m) => warnings.push(m));
  return { links, calls, warnings };
}

test('a forgotten address record keeps the link while the peer is in the configuration; it goes once it is in neither', () => {
  const { links, calls } = setup();
  links.configChanged(config(['n1', 'n2', 'n3']));
  calls.length = 0;
  links.registryChanged('n3', undefined); // replayed Forget while the log's configuration lists n3
  assert.deepEqual(calls, ['add n3 ws://127.0.0.1:3']);
  calls.length = 0;
  links.configChanged(config(['n1', 'n2']));
  assert.deepEqual(calls, ['add n2 ws://127.0.0.1:2', 'remove n3']);
});

test('a peer leaving the configuration keeps its link while its address is recorded; an outgoing voter or a learner is a member', () => {
  const { links, calls } = setup();
  links.registryChanged('n4', { raftAddress: '127.0.0.1:4' });
  links.configChanged(config(['n1', 'n2'], ['n4'], ['n3']));
  assert.ok(!calls.some((c) => c.startsWith('remove')), calls.join(', '));
  calls.length = 0;
  links.configChanged(config(['n1', 'n2']));
  assert.deepEqual(calls.sort(), ['add n2 ws://127.0.0.1:2', 'add n4 ws://127.0.0.1:4', 'remove n3']);
  calls.length = 0;
  links.registryChanged('n4', undefined);
  assert.deepEqual(calls, ['remove n4']);
});

test('the recorded address wins over the static one and is remembered after the record is forgotten', () => {
  const { links, calls } = setup();
  links.registryChanged('n3', { raftAddress: '10.0.0.3:7000' });
  links.configChanged(config(['n1', 'n3']));
  links.registryChanged('n3', undefined);
  assert.equal(calls.at(-1), 'add n3 ws://10.0.0.3:7000');
});

test('a member with no known address is reported, not linked; itself is never linked', () => {
  const { links, calls, warnings } = setup({});
  links.configChanged(config(['n1', 'n5']));
  assert.deepEqual(calls, []);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /n5 is a member but no address is known/);
});

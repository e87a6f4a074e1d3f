import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recognizedByQuorum } from '../src/node/cluster.js';

test('a leader counts when a quorum of its own configuration names it, not a majority of every process', () => {
  const config = (voters: string[], outgoingVoters: string[] = []) => ({ voters, learners: [], outgoingVoters });
  // Three processes; n1 and n3 were removed and n2 leads alone. n1 still runs, cut off, naming no
  // leader: a majority of the three processes never agrees, the cluster's own quorum does.
  assert.equal(recognizedByQuorum(config(['n2']), new Set(['n2']), 3), true);
  assert.equal(recognizedByQuorum(config(['n1', 'n2', 'n3']), new Set(['n1', 'n2']), 3), true);
  assert.equal(recognizedByQuorum(config(['n1', 'n2', 'n3']), new Set(['n1']), 3), false, 'a deposed leader alone');
  // Joint: both halves need a majority.
  assert.equal(recognizedByQuorum(config(['n2', 'n3'], ['n1', 'n2', 'n3']), new Set(['n2', 'n3']), 3), true);
  assert.equal(recognizedByQuorum(config(['n2', 'n4'], ['n1', 'n2', 'n3']), new Set(['n2', 'n4']), 4), false, 'the outgoing half has no majority');
  // No configuration reported: a majority of the processes asked.
  assert.equal(recognizedByQuorum(undefined, new Set(['a', 'b']), 3), true);
  assert.equal(recognizedByQuorum({}, new Set(['a']), 3), false);
});

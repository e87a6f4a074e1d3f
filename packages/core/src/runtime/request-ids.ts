import { SeededRandom, seedFrom } from '../raft/random.js';

const TAGS = 2 ** 20;

/**
 * The first id of the requests a node sends its leader (forwarded proposals and reads). Answers
 * are matched to requests by id, and an answer can arrive after the node has restarted: with ids
 * counting from 1 at every start, a leader's late answer to a proposal forwarded before a crash
 * resolved a different proposal forwarded after the restart with the other's index and term
 * (simulator seed 23456). So every start draws a tag for the high bits, from the seed when one is
 * given (the simulator gives each incarnation its own) and at random otherwise; the low 32 bits
 * count. Ids stay below 2^52, exact as numbers and on the wire.
 */
export function firstRequestId(seed: number | undefined): number {
  const tag = seed === undefined ? 1 + Math.floor(Math.random() * (TAGS - 1)) : new SeededRandom(seedFrom('request-ids', seed)).int(1, TAGS);
  return tag * 2 ** 32 + 1;
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../src/quickstart.js';

test('the README quick-start example runs and every node ends with the same state', async () => {
  const lines: string[] = [];
  const states = await main((line) => lines.push(line));
  assert.ok(lines.some((l) => l.includes('committed greeting=hello')));
  assert.ok(lines.some((l) => /reads greeting=bonjour/.test(l)), lines.join('\n'));
  for (const state of states) assert.equal(state.get('greeting'), 'bonjour');
});

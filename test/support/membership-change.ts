import assert from 'node:assert/strict';

export interface ChangeReply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Makes a membership change through the KV API until the leader takes it, and requires that it
 * did. A leader refuses a change with 409 `change_in_progress` until it has committed an entry of
 * its own term (and while another change is uncommitted): right after an election that is normal,
 * and the API's answer says to retry. Any other answer is returned at once, for the test to judge.
 */
export async function acceptedChange(change: () => Promise<ChangeReply>, timeoutMs = 20_000): Promise<ChangeReply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await change();
    if (reply.status !== 409 || reply.body['error'] !== 'change_in_progress') return reply;
    if (Date.now() >= deadline) assert.fail(`a membership change was refused as in progress for ${timeoutMs} ms: ${JSON.stringify(reply.body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

import type { RaftNode, ResultCodec } from '@flotilla/core';
import { replyForError } from '../http/errors.js';
import { errorReply, json, type HttpHandler } from '../http/server.js';

/**
 * The command API of a node, for out-of-process clients:
 * - `POST /v1/commands` (body: the command's bytes) → 200 `{"index","term","result"}` where result
 *   is the state machine's result, encoded by `codec` and sent as base64.
 * - `GET /v1/status` → the node's status.
 * Any node accepts commands: a follower forwards them to the leader.
 */
export function clientApi<Result>(node: RaftNode<Result>, codec: ResultCodec<Result>, commandTimeoutMs: number): HttpHandler {
  return async (request) => {
    if (request.path === '/v1/commands') {
      if (request.method !== 'POST') return errorReply(405, 'method_not_allowed', 'use POST');
      if (request.body.byteLength === 0) return errorReply(400, 'bad_request', 'the command is empty');
      try {
        const { index, term, result } = await node.propose(request.body, { forward: true, timeoutMs: commandTimeoutMs });
        return json(200, { index, term, result: Buffer.from(codec.encode(result)).toString('base64') });
      } catch (error) {
        return replyForError(error);
      }
    }
    if (request.path === '/v1/status') {
      const { progress, config, ...status } = node.status();
      return json(200, { ...status, members: config.voters, progress });
    }
    return errorReply(404, 'not_found', `no route for ${request.method} ${request.path}`);
  };
}

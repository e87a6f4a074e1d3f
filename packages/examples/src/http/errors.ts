import { BusyError, LeadershipLostError, NotLeaderError, TimeoutError, TransferInProgressError, ClosedError } from '@flotilla/core';
import { errorReply, type HttpReply } from './server.js';

/**
 * How node errors become HTTP answers. 503 means nothing was done (safe to retry elsewhere);
 * 504 means the outcome is unknown (the command may still commit).
 */
export function replyForError(error: unknown): HttpReply {
  if (error instanceof NotLeaderError) {
    return errorReply(503, 'no_leader', error.message, error.leaderId ? { leader: error.leaderId } : {});
  }
  if (error instanceof BusyError || error instanceof TransferInProgressError) return errorReply(503, 'busy', error.message);
  if (error instanceof LeadershipLostError) return errorReply(503, 'leadership_lost', error.message);
  if (error instanceof TimeoutError) {
    return error.outcomeUnknown ? errorReply(504, 'timeout', error.message, { outcomeUnknown: true }) : errorReply(503, 'timeout', error.message);
  }
  if (error instanceof ClosedError) return errorReply(503, 'closed', error.message);
  if (error instanceof RangeError) return errorReply(413, 'too_large', error.message);
  if (error instanceof TypeError) return errorReply(400, 'bad_request', error.message);
  return errorReply(500, 'internal', (error as Error)?.message ?? String(error));
}

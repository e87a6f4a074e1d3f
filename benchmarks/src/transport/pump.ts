import { MessageType } from '@flotilla/core';
import type { Message, MessageReceiver, NodeId } from '@flotilla/core';
import { WebSocketTransport } from '@flotilla/transport';

export const FRAME_BYTES = 64 * 1024;
/** Entry bytes per frame: the frame around one such entry is just under 64 KiB. */
export const ENTRY_DATA_BYTES = FRAME_BYTES - 256;
// Keep little in user space: 64 KiB buffers that wait long get promoted to the old generation
// and then cost mark-compact collections (measured: 256 KiB is faster than 2 MiB).
const HIGH = 256 * 1024;
const LOW = HIGH / 4;
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Receiver implements MessageReceiver {
  onMessages: (messages: readonly Message[]) => void = () => undefined;
  receive(messages: readonly Message[]): void {
    this.onMessages(messages);
  }
  peerUnreachable(_peer: NodeId): void {}
}

export function benchTransport(id: NodeId): WebSocketTransport {
  return new WebSocketTransport({
    id,
    clusterId: 'bench',
    secret: 'bench-secret',
    listen: { host: '127.0.0.1', port: 0 },
    maxFrameBytes: 4 * 1024 * 1024,
  });
}

/** Counts Append entry bytes until `total`, then calls `done`. */
export function countAppends(receiver: Receiver, total: number, done: () => void): void {
  let received = 0;
  receiver.onMessages = (messages) => {
    for (const m of messages) if (m.type === MessageType.Append) for (const e of m.entries) received += e.data.byteLength;
    if (received >= total) {
      receiver.onMessages = () => undefined;
      done();
    }
  };
}

/** Sends `total` entry bytes as one ~64 KiB Append frame per event-loop turn, honouring backpressure. */
export async function pump(sender: WebSocketTransport, from: NodeId, to: NodeId, total: number): Promise<void> {
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(3);
  let sent = 0;
  let index = 0;
  while (sent < total) {
    if (sender.socketBufferedBytes(to) > HIGH) {
      await sender.whenWritable(to, LOW);
      continue;
    }
    sender.send(to, [{ type: MessageType.Append, from, to, term: 1, prevIndex: index, prevTerm: 1, commit: index, entries: [{ index: index + 1, term: 1, type: 0, data }] }]);
    index++;
    sent += data.byteLength;
    await immediate();
  }
}

/**
 * The upgrade-request handshake: the dialer proves it knows the cluster's shared secret with an
 * HMAC over the cluster id, both node ids, a timestamp and a nonce. The secret never travels.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const HANDSHAKE_PATH = '/flotilla/1';

export const Header = {
  cluster: 'x-flotilla-cluster',
  from: 'x-flotilla-from',
  to: 'x-flotilla-to',
  time: 'x-flotilla-time',
  nonce: 'x-flotilla-nonce',
  proof: 'x-flotilla-proof',
} as const;

export type HandshakeRefusal =
  | 'malformed'
  | 'wrong-cluster'
  | 'wrong-recipient'
  | 'unknown-node'
  | 'stale'
  | 'replayed'
  | 'bad-proof';

export function proof(secret: string | Uint8Array, cluster: string, from: string, to: string, time: string, nonce: string): Buffer {
  return createHmac('sha256', secret).update(`flotilla/1\n${cluster}\n${from}\n${to}\n${time}\n${nonce}`).digest();
}

export function handshakeHeaders(secret: string | Uint8Array, cluster: string, from: string, to: string, now = Date.now()): Record<string, string> {
  const time = String(now);
  const nonce = randomBytes(16).toString('hex');
  return {
    [Header.cluster]: encodeURIComponent(cluster),
    [Header.from]: encodeURIComponent(from),
    [Header.to]: encodeURIComponent(to),
    [Header.time]: time,
    [Header.nonce]: nonce,
    [Header.proof]: proof(secret, cluster, from, to, time, nonce).toString('hex'),
  };
}

export interface HandshakeCheck {
  readonly secret: string | Uint8Array;
  readonly clusterId: string;
  readonly localId: string;
  readonly isKnownPeer: (id: string) => boolean;
  readonly windowMs: number;
  readonly now: number;
  /** Nonces seen within the window: a replayed upgrade request is refused. */
  readonly seen: Map<string, number>;
  readonly maxSeen: number;
}

export type HandshakeVerdict = { ok: true; peer: string } | { ok: false; reason: HandshakeRefusal; status: string; detail: string };

function refuse(reason: HandshakeRefusal, detail: string): HandshakeVerdict {
  const status = reason === 'malformed' ? '400 Bad Request' : reason === 'stale' || reason === 'replayed' || reason === 'bad-proof' ? '401 Unauthorized' : '403 Forbidden';
  return { ok: false, reason, status, detail };
}

function decode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

export function checkHandshake(headers: (name: string) => string, c: HandshakeCheck): HandshakeVerdict {
  const cluster = decode(headers(Header.cluster));
  const from = decode(headers(Header.from));
  const to = decode(headers(Header.to));
  const time = headers(Header.time);
  const nonce = headers(Header.nonce);
  const given = headers(Header.proof);
  if (!cluster || !from || !to || !/^\d{1,16}$/.test(time) || !/^[0-9a-f]{32}$/.test(nonce) || !/^[0-9a-f]{64}$/.test(given)) {
    return refuse('malformed', 'missing or malformed handshake headers');
  }
  if (cluster !== c.clusterId) return refuse('wrong-cluster', `cluster ${JSON.stringify(cluster)}`);
  if (to !== c.localId) return refuse('wrong-recipient', `addressed to ${JSON.stringify(to)}`);
  if (!c.isKnownPeer(from) || from === c.localId) return refuse('unknown-node', `node ${JSON.stringify(from)} is not a peer`);
  const sent = Number(time);
  if (Math.abs(c.now - sent) > c.windowMs) return refuse('stale', `timestamp ${sent} is ${c.now - sent} ms off`);
  const expected = proof(c.secret, cluster, from, to, time, nonce);
  if (!timingSafeEqual(expected, Buffer.from(given, 'hex'))) return refuse('bad-proof', `bad proof from ${JSON.stringify(from)}`);
  if (c.seen.has(nonce)) return refuse('replayed', `nonce reused by ${JSON.stringify(from)}`);
  if (c.seen.size >= 1024) for (const [n, expiry] of c.seen) if (expiry <= c.now) c.seen.delete(n);
  if (c.seen.size >= c.maxSeen) return refuse('replayed', 'too many handshakes within the window');
  c.seen.set(nonce, sent + c.windowMs);
  return { ok: true, peer: from };
}

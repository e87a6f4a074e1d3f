export { WebSocketTransport, DEFAULTS, CloseCode, backoffDelay } from './transport.js';
export type { WebSocketTransportOptions, TransportStats, PeerTrafficStats, TransportLogger, TlsOptions } from './transport.js';
export { encodeFrame, decodeFrame, FrameEncoder, FrameError, FRAME_IDENTIFIER, MAX_ID_BYTES } from './codec.js';
export type { DecodedFrame, DecodeExpectations, FrameRejectReason } from './codec.js';
export { HANDSHAKE_PATH, handshakeHeaders } from './handshake.js';
export type { HandshakeRefusal } from './handshake.js';
export * as wire from './generated/frame_generated.js';

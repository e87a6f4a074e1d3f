/**
 * Loads uWebSockets.js for HTTP and refuses its silent JavaScript fallback (which it loads when
 * its binary does not match the Node.js ABI). The types are the subset of uWS.js v20.30 used here.
 */
import { createRequire } from 'node:module';

export interface UwsHttpResponse {
  writeStatus(status: string): UwsHttpResponse;
  writeHeader(key: string, value: string): UwsHttpResponse;
  end(body?: string | Uint8Array, closeConnection?: boolean): UwsHttpResponse;
  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): UwsHttpResponse;
  onAborted(handler: () => void): UwsHttpResponse;
  cork(fn: () => void): UwsHttpResponse;
  close(): UwsHttpResponse;
  upgrade<UserData>(userData: UserData, key: string, protocol: string, extensions: string, context: unknown): void;
}

export interface UwsWebSocket<UserData> {
  /** 0: sent, 1: queued under backpressure, 2: dropped (over maxBackpressure). */
  send(message: string | Uint8Array, isBinary?: boolean, compress?: boolean): number;
  getBufferedAmount(): number;
  end(code?: number, shortMessage?: string): void;
  getUserData(): UserData;
}

export interface UwsWebSocketBehavior<UserData> {
  compression?: number;
  maxPayloadLength?: number;
  idleTimeout?: number;
  maxBackpressure?: number;
  upgrade?: (res: UwsHttpResponse, req: UwsHttpRequest, context: unknown) => void;
  open?: (ws: UwsWebSocket<UserData>) => void;
  message?: (ws: UwsWebSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void;
  close?: (ws: UwsWebSocket<UserData>, code: number, message: ArrayBuffer) => void;
}

export interface UwsHttpRequest {
  getMethod(): string;
  getUrl(): string;
  getQuery(): string | undefined;
  getHeader(lowerCaseKey: string): string;
  forEach(fn: (key: string, value: string) => void): void;
}

export interface UwsHttpApp {
  any(pattern: string, handler: (res: UwsHttpResponse, req: UwsHttpRequest) => void): UwsHttpApp;
  ws<UserData>(pattern: string, behavior: UwsWebSocketBehavior<UserData>): UwsHttpApp;
  listen(host: string, port: number, options: number, cb: (socket: object | false) => void): UwsHttpApp;
}

interface UwsHttpModule {
  App(): UwsHttpApp;
  us_listen_socket_close(socket: object): void;
  us_socket_local_port(socket: object): number;
  LIBUS_LISTEN_EXCLUSIVE_PORT: number | undefined;
}

let loaded: UwsHttpModule | undefined;

export function uws(): UwsHttpModule {
  if (loaded) return loaded;
  const module = createRequire(import.meta.url)('uWebSockets.js') as UwsHttpModule;
  if (module.LIBUS_LISTEN_EXCLUSIVE_PORT === undefined) {
    throw new Error(
      'uWebSockets.js loaded its slow JavaScript fallback: its native binary does not match this Node.js ' +
        `(${process.version}, ${process.platform}/${process.arch}). Reinstall with a supported Node.js.`,
    );
  }
  return (loaded = module);
}

/**
 * Loads uWebSockets.js (a CommonJS native addon) and refuses to run on its JavaScript fallback,
 * which the package loads silently when its binary does not match the Node.js ABI.
 * The types below are the subset of the uWS.js v20.30 API this package uses.
 */
import { createRequire } from 'node:module';

export interface UwsSocket<UserData> {
  send(message: Uint8Array, isBinary?: boolean, compress?: boolean): number;
  getBufferedAmount(): number;
  end(code?: number, shortMessage?: string): void;
  close(): void;
  getUserData(): UserData;
  getRemoteAddressAsText(): ArrayBuffer;
}

export interface UwsRequest {
  getHeader(lowerCaseKey: string): string;
  getUrl(): string;
}

export interface UwsResponse {
  writeStatus(status: string): UwsResponse;
  writeHeader(key: string, value: string): UwsResponse;
  end(body?: string, closeConnection?: boolean): UwsResponse;
  upgrade<UserData>(userData: UserData, key: string, protocol: string, extensions: string, context: unknown): void;
  getRemoteAddressAsText(): ArrayBuffer;
}

export interface UwsBehavior<UserData> {
  maxPayloadLength?: number;
  maxBackpressure?: number;
  closeOnBackpressureLimit?: boolean;
  idleTimeout?: number;
  sendPingsAutomatically?: boolean;
  compression?: number;
  upgrade?: (res: UwsResponse, req: UwsRequest, context: unknown) => void;
  open?: (ws: UwsSocket<UserData>) => void;
  message?: (ws: UwsSocket<UserData>, message: ArrayBuffer, isBinary: boolean) => void;
  drain?: (ws: UwsSocket<UserData>) => void;
  close?: (ws: UwsSocket<UserData>, code: number, message: ArrayBuffer) => void;
}

export type UwsListenSocket = object;

export interface UwsApp {
  ws<UserData>(pattern: string, behavior: UwsBehavior<UserData>): UwsApp;
  any(pattern: string, handler: (res: UwsResponse, req: UwsRequest) => void): UwsApp;
  listen(host: string, port: number, options: number, cb: (socket: UwsListenSocket | false) => void): UwsApp;
  close?(): void;
}

export interface UwsModule {
  App(options?: Record<string, string>): UwsApp;
  SSLApp(options: Record<string, string>): UwsApp;
  us_listen_socket_close(socket: UwsListenSocket): void;
  us_socket_local_port(socket: UwsListenSocket): number;
  LIBUS_LISTEN_EXCLUSIVE_PORT: number;
  DISABLED: number;
}

let loaded: UwsModule | undefined;

export function loadUws(): UwsModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as UwsModule;
  if (uws.LIBUS_LISTEN_EXCLUSIVE_PORT === undefined) {
    throw new Error(
      `@flotilla/transport: uWebSockets.js loaded its JavaScript fallback instead of the native binary ` +
        `(Node.js ${process.version}, ABI ${process.versions.modules}, ${process.platform}/${process.arch}); ` +
        'install a uWebSockets.js build for this Node.js version',
    );
  }
  loaded = uws;
  return uws;
}

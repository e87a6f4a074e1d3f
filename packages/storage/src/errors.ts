import { constants } from 'node:os';
import { CorruptLogError, FlotillaError } from '@flotilla/core';
import type { NativeError } from './native.js';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** An operating-system error from the disk (ENOSPC, EIO, ...): `code` is the errno name. */
export class StorageIOError extends FlotillaError {
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;
  /** The log can take no more writes until it is closed and reopened. */
  readonly broken: boolean;
  constructor(errno: number, syscall: string, path: string, message: string, broken = false) {
    super(errnoNames.get(errno) ?? `ERRNO_${errno}`, broken ? `${message} (the log must be reopened)` : message);
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
    this.broken = broken;
  }
}

/** Another handle (in this process or another) holds the directory lock. */
export class LockedError extends FlotillaError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('LOCKED', message);
    this.path = path;
  }
}

/** A snapshot failed its checksum or is malformed. */
export class CorruptSnapshotError extends FlotillaError {
  readonly file: string;
  constructor(file: string, detail: string) {
    super('CORRUPT_SNAPSHOT', `corrupt snapshot ${file}: ${detail}`);
    this.file = file;
  }
}

function isNativeError(error: unknown): error is NativeError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}

/** Turns an error from the addon into the typed error callers branch on. */
export function fromNative(error: unknown, broken = false): Error {
  if (!isNativeError(error)) return error instanceof Error ? error : new Error(String(error));
  switch (error.code) {
    case 'CORRUPT_LOG':
      return new CorruptLogError(error.file ?? '?', error.offset ?? 0, error.message);
    case 'LOCKED':
      return new LockedError(error.file ?? '?', error.message);
    case 'ERRNO':
      return new StorageIOError(error.errno ?? 0, error.syscall ?? '', error.file ?? '', error.message, broken);
    default:
      return error;
  }
}

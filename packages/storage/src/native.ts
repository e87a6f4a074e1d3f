import { createRequire } from 'node:module';
import type * as Native from '@flotilla/native';

/** The compiled addon (loaded through require: it is a CommonJS module with a dynamic export). */
export const native: typeof Native = createRequire(import.meta.url)('@flotilla/native') as typeof Native;
export type { NativeError, Wal, WalOpened } from '@flotilla/native';

import { FlotillaError, TimeoutError, defaultResultCodec, type ResultCodec } from '@flotilla/core';

export interface ClientOptions<Result> {
  /** Base URLs of the nodes' HTTP APIs, e.g. http://127.0.0.1:8081. Any node will do. */
  readonly endpoints: readonly string[];
  /** Overall deadline of one submit, retries included (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Decodes results (default: the node's default codec, JSON). */
  readonly codec?: ResultCodec<Result>;
}

export interface SubmitResult<Result> {
  readonly index: number;
  readonly term: number;
  readonly result: Result;
}

/** The node refused the command for a reason retrying will not fix (bad request, too large). */
export class RejectedError extends FlotillaError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(code.toUpperCase(), message);
    this.status = status;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Submits commands to a Flotilla cluster from another process. Retries only what is safe to retry
 * (no leader yet, busy, connection refused: nothing was done); anything that may have been done
 * (a 504, a connection lost mid-request, the deadline) ends in a TimeoutError with
 * `outcomeUnknown: true`, never in a silent duplicate.
 */
export class FlotillaClient<Result = unknown> {
  private readonly endpoints: string[];
  private readonly timeoutMs: number;
  private readonly codec: ResultCodec<Result>;
  private preferred = 0;

  constructor(options: ClientOptions<Result>) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) throw new TypeError('endpoints must name at least one node');
    this.endpoints = options.endpoints.map((e) => e.replace(/\/+$/, ''));
    this.timeoutMs = options.timeoutMs ?? 5000;
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.timeoutMs}`);
    this.codec = options.codec ?? (defaultResultCodec as ResultCodec<Result>);
  }

  async submit(command: Uint8Array): Promise<SubmitResult<Result>> {
    if (!(command instanceof Uint8Array) || command.byteLength === 0) throw new TypeError('command must be a non-empty Uint8Array');
    const deadline = Date.now() + this.timeoutMs;
    let lastRefusal = 'no node answered';
    for (let attempt = 0; ; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new TimeoutError(`no node accepted the command within ${this.timeoutMs} ms (${lastRefusal}); it was not done`, false);
      const endpoint = this.endpoints[(this.preferred + attempt) % this.endpoints.length]!;
      let response: Response;
      try {
        response = await fetch(`${endpoint}/v1/commands`, { method: 'POST', body: command, signal: AbortSignal.timeout(remaining) });
      } catch (error) {
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') {
          lastRefusal = `${endpoint}: ${code}`;
          await sleep(Math.min(50 * 2 ** Math.min(attempt, 5), 500));
          continue; // nothing was sent: safe to try another node
        }
        throw new TimeoutError(`the request to ${endpoint} failed after it was sent (${(error as Error).message}); the outcome is unknown`, true);
      }
      const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.status === 200) {
        this.preferred = (this.preferred + attempt) % this.endpoints.length;
        return {
          index: body['index'] as number,
          term: body['term'] as number,
          result: this.codec.decode(Buffer.from(String(body['result'] ?? ''), 'base64')),
        };
      }
      if (response.status === 504) {
        throw new TimeoutError(`${endpoint} timed out (${String(body['message'] ?? 'no detail')}); the outcome is unknown`, true);
      }
      if (response.status === 503) {
        lastRefusal = `${endpoint}: ${String(body['error'])}`;
        await sleep(Math.min(50 * 2 ** Math.min(attempt, 5), 500));
        continue; // refused before anything was done: safe to retry
      }
      throw new RejectedError(response.status, String(body['error'] ?? 'rejected'), String(body['message'] ?? `HTTP ${response.status}`));
    }
  }
}

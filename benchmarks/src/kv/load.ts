import { LatencyHistogram } from '@flotilla/examples';
import { Http1Connection } from './http1.js';

/** One HTTP request of the workload: client `client`'s `n`-th. */
export type RequestFor = (client: number, n: number) => { readonly method: string; readonly path: string; readonly body: Buffer; /** Extra header lines, each ending in \r\n. */ readonly headers?: string };

export interface LoadOptions {
  readonly host: string;
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly requestFor: RequestFor;
  /** Per-request deadline (default 10 s): a request over it counts as an error. */
  readonly timeoutMs?: number;
}

export interface LoadResult {
  readonly concurrency: number;
  readonly completed: number;
  readonly errors: number;
  readonly putsPerSec: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly firstError?: string;
}

/**
 * A closed loop of `concurrency` HTTP/1.1 clients, each with its own keep-alive connection, each
 * sending its next request when the previous answer has arrived. Counts and times only answers 200
 * that arrive in the measured window; a connection that fails is opened again.
 */
export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const histogram = new LatencyHistogram();
  const timeoutMs = options.timeoutMs ?? 10_000;
  let measuring = false;
  let running = true;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const fail = (message: string): void => {
    if (measuring) errors++;
    firstError ??= message;
  };
  const connections: Http1Connection[] = [];
  const clients = Array.from({ length: options.concurrency }, async (_, client) => {
    const connection = new Http1Connection(options.host, options.port);
    connections.push(connection);
    for (let n = 0; running; n++) {
      const { method, path, body, headers } = options.requestFor(client, n);
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
        const response = await Promise.race([connection.request(method, path, body, headers), deadline]);
        if (response.status === 200) {
          if (measuring) {
            histogram.record((performance.now() - started) * 1000);
            completed++;
          }
        } else {
          fail(`HTTP ${response.status}: ${response.body.slice(0, 200)}`);
        }
      } catch (error) {
        fail((error as Error).message);
        connection.close();
        await new Promise((r) => setTimeout(r, 10));
      } finally {
        clearTimeout(timer);
      }
    }
  });
  await new Promise((r) => setTimeout(r, options.warmupMs));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  measuring = false;
  const elapsedMs = performance.now() - start;
  running = false;
  await Promise.all(clients);
  for (const connection of connections) connection.close();
  return {
    concurrency: options.concurrency,
    completed,
    errors,
    putsPerSec: (completed / elapsedMs) * 1000,
    p50Us: histogram.percentile(0.5),
    p99Us: histogram.percentile(0.99),
    p999Us: histogram.percentile(0.999),
    ...(firstError ? { firstError } : {}),
  };
}

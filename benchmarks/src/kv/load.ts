import { Agent, request } from 'node:http';
import { LatencyHistogram } from '@flotilla/examples';

/** One HTTP request of the workload: client `client`'s `n`-th. */
export type RequestFor = (client: number, n: number) => { readonly method: string; readonly path: string; readonly body: Buffer; readonly headers?: Record<string, string> };

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
 * A closed loop of `concurrency` HTTP/1.1 clients, each with its own keep-alive connection (a
 * node:http Agent with one socket per client), each sending its next request when the previous
 * answer has arrived. Counts and times only answers 200 that arrive in the measured window.
 */
export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency, scheduling: 'fifo' });
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
  const once = (client: number, n: number): Promise<void> =>
    new Promise((resolve) => {
      const { method, path, body, headers } = options.requestFor(client, n);
      const started = performance.now();
      const req = request(
        { host: options.host, port: options.port, method, path, agent, headers: { 'content-length': String(body.byteLength), ...headers }, timeout: timeoutMs },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (text.length < 512) text += chunk;
          });
          res.on('end', () => {
            if (res.statusCode === 200) {
              if (measuring) {
                histogram.record((performance.now() - started) * 1000);
                completed++;
              }
            } else {
              fail(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
            }
            resolve();
          });
          res.on('error', (error) => {
            fail(error.message);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => {
        fail(error.message);
        setTimeout(resolve, 1);
      });
      req.end(body);
    });
  const clients = Array.from({ length: options.concurrency }, async (_, client) => {
    for (let n = 0; running; n++) await once(client, n);
  });
  await new Promise((r) => setTimeout(r, options.warmupMs));
  measuring = true;
  const start = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  measuring = false;
  const elapsedMs = performance.now() - start;
  running = false;
  await Promise.all(clients);
  agent.destroy();
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

import type { BucketHistogram } from './histogram.js';

export type Labels = Readonly<Record<string, string>>;

/** A label value in the text format: backslash, double quote and newline escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and newline escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Labels | undefined, extra = ''): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels ?? {})) parts.push(`${name}="${escapeLabelValue(value)}"`);
  if (extra) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/**
 * Writes the Prometheus text exposition format (version 0.0.4): one HELP and one TYPE line per
 * metric family, before its samples, each family once.
 */
export class PrometheusWriter {
  private readonly lines: string[] = [];
  private readonly families = new Set<string>();

  private family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
    if (this.families.has(name)) throw new Error(`metric family ${name} written twice`);
    this.families.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  /** A gauge or counter family with one sample per entry of `samples`. */
  samples(name: string, type: 'gauge' | 'counter', help: string, samples: readonly (readonly [Labels, number])[]): this {
    this.family(name, type, help);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  single(name: string, type: 'gauge' | 'counter', help: string, labels: Labels, value: number): this {
    return this.samples(name, type, help, [[labels, value]]);
  }

  histogram(name: string, help: string, labels: Labels, histogram: BucketHistogram): this {
    this.family(name, 'histogram', help);
    let cumulative = 0;
    for (let i = 0; i < histogram.bounds.length; i++) {
      cumulative += histogram.counts[i]!;
      this.lines.push(`${name}_bucket${formatLabels(labels, `le="${formatValue(histogram.bounds[i]!)}"`)} ${cumulative}`);
    }
    this.lines.push(`${name}_bucket${formatLabels(labels, 'le="+Inf"')} ${histogram.count}`);
    this.lines.push(`${name}_sum${formatLabels(labels)} ${formatValue(histogram.sum)}`);
    this.lines.push(`${name}_count${formatLabels(labels)} ${histogram.count}`);
    return this;
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

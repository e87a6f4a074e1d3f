import { ConfigError } from '@flotilla/core';

/** `--key value` and `--flag` arguments, with positionals kept in order. */
export interface ParsedArgs {
  readonly positional: string[];
  readonly options: Map<string, string[]>;
}

export function parseArgs(argv: readonly string[], booleanFlags: ReadonlySet<string> = new Set()): ParsedArgs {
  const positional: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else if (booleanFlags.has(name)) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(name, 'needs a value');
      value = next;
      i++;
    }
    options.set(name, [...(options.get(name) ?? []), value]);
  }
  return { positional, options };
}

export function single(args: ParsedArgs, name: string): string | undefined {
  const values = args.options.get(name);
  if (!values) return undefined;
  if (values.length > 1) throw new ConfigError(name, 'given more than once');
  return values[0];
}

export function integer(args: ParsedArgs, name: string, fallback: number, min = 1): number {
  const raw = single(args, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(name, `must be an integer ≥ ${min}, got ${raw}`);
  return value;
}

/** kebab-case flag name → camelCase config key. */
export function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

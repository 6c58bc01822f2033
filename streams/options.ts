/**
 * A stream's opt-ins (StreamDef.options) as the engine applies them: the query parameters of its first request,
 * the rate budget its requests draw from, and the columns filled from `included`. Pure and deterministic: workflow
 * code and the config may import it.
 */
import type { IncludedFrom, ResourceLookup, StreamDef, StreamOption } from './types';

/** The options a stream offers, by name. */
export function optionsOf(stream: StreamDef): Readonly<Record<string, StreamOption>> {
  return stream.options ?? {};
}

function enabledOptions(stream: StreamDef, enabled: readonly string[] | undefined): Array<[string, StreamOption]> {
  const offered = optionsOf(stream);
  return (enabled ?? []).map((name) => {
    const option = offered[name];
    if (!option) {
      const names = Object.keys(offered);
      throw new Error(`stream ${stream.name} has no option ${JSON.stringify(name)}${names.length ? `; it has: ${names.join(', ')}` : ''}`);
    }
    return [name, option];
  });
}

/** The stream's `params` with those of the enabled options: a parameter set by both lists both values. */
export function requestParams(stream: StreamDef, enabled?: readonly string[]): Record<string, string> {
  const params: Record<string, string> = { ...(stream.params ?? {}) };
  for (const [, option] of enabledOptions(stream, enabled)) {
    for (const [name, value] of Object.entries(option.params)) {
      const values = [...(params[name]?.split(',') ?? []), ...value.split(',')];
      params[name] = [...new Set(values)].join(',');
    }
  }
  return params;
}

/**
 * The budget a request draws from: the operation's, or with options of a lower tier `<operation>+<option>` (the
 * limiter's operation table holds their tiers: lib/klaviyo/operations.ts).
 */
export function rateOperation(stream: StreamDef, enabled?: readonly string[]): string {
  // several tiered options: the strictest tier holds for the request
  const strictest = enabledOptions(stream, enabled)
    .filter(([, o]) => o.rateLimit)
    .sort(([a, x], [b, y]) => x.rateLimit!.steady - y.rateLimit!.steady || x.rateLimit!.burst - y.rateLimit!.burst || (a < b ? -1 : 1))[0];
  return strictest ? `${stream.operation}+${strictest[0]}` : stream.operation;
}

/**
 * Every budget a stream's requests may draw from, with its tier: the operation's, each tiered option's and each
 * option's lookups (`get_list+profile_count`).
 */
export function rateOperations(stream: StreamDef): Array<{ operation: string; rateLimit: { burst: number; steady: number } }> {
  const out = [{ operation: stream.operation, rateLimit: stream.rateLimit }];
  for (const [name, o] of Object.entries(optionsOf(stream))) {
    if (o.rateLimit) out.push({ operation: rateOperation(stream, [name]), rateLimit: o.rateLimit });
    if (o.lookup) out.push({ operation: lookupOperation(name, o.lookup), rateLimit: o.lookup.rateLimit });
  }
  return out;
}

/** The budget an option's per-resource reads draw from: `<operation>+<option>`. */
export function lookupOperation(option: string, lookup: ResourceLookup): string {
  return `${lookup.operation}+${option}`;
}

/** The per-resource reads the enabled options ask for, each with its budget. */
export function lookupsOf(stream: StreamDef, enabled?: readonly string[]): Array<ResourceLookup & { rateOperation: string }> {
  return enabledOptions(stream, enabled).flatMap(([name, o]) =>
    o.lookup ? [{ ...o.lookup, rateOperation: lookupOperation(name, o.lookup) }] : [],
  );
}

export type IncludedColumn = IncludedFrom & { column: string };

/** The columns the enabled options fill from `included`. */
export function includedColumns(stream: StreamDef, enabled?: readonly string[]): IncludedColumn[] {
  return enabledOptions(stream, enabled).flatMap(([, o]) =>
    Object.entries(o.includedColumns ?? {}).map(([column, from]) => ({ column, ...from })),
  );
}

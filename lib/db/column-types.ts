/**
 * The portable column types and how a Klaviyo attribute gets one: from its type in the spec, or, for an attribute the
 * spec does not list, from the values seen. Each dialect maps these to its own SQL types (lib/db/dialect.ts).
 * Kept free of other imports so scripts/gen-attributes.ts can check spec types before attributes.json exists.
 */

export type ColumnType = 'text' | 'integer' | 'number' | 'boolean' | 'timestamp' | 'json';

/**
 * A spec type string from endpoints.json → column type. Nested objects (`→Schema`, unions of them, `object`) and
 * arrays are stored whole as JSON; a type this does not know is an error so the generator catches spec changes.
 */
export function specColumnType(type: string): ColumnType {
  if (type.startsWith('→') || type === 'object' || type.startsWith('array<')) return 'json';
  if (type.startsWith('string(date-time)')) return 'timestamp';
  if (type === 'string' || type.startsWith('string enum') || type.startsWith('string(')) return 'text';
  if (type === 'integer' || type.startsWith('integer enum')) return 'integer';
  if (type === 'number') return 'number';
  if (type === 'boolean') return 'boolean';
  throw new Error(`spec type ${JSON.stringify(type)} has no column type; add it to specColumnType in lib/db/column-types.ts`);
}

/**
 * The column type for values of an attribute the spec does not list. Numbers become `number`, not `integer`: a later
 * page may carry a fraction, and a bigint column would reject it. Strings stay text: guessing dates from strings
 * would break on the first value that is not one. Mixed kinds fall back to JSON, which holds any of them.
 */
export function inferColumnType(values: unknown[]): ColumnType | null {
  const kinds = new Set<ColumnType>();
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') kinds.add('text');
    else if (typeof v === 'number') kinds.add('number');
    else if (typeof v === 'boolean') kinds.add('boolean');
    else kinds.add('json');
  }
  if (kinds.size === 0) return null;
  return kinds.size === 1 ? [...kinds][0] : 'json';
}

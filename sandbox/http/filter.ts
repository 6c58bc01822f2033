/**
 * Klaviyo's filter language: `operator(field,value)` conditions joined by `and(...)` (or, at the top level, by commas), e.g.
 * `and(equals(messages.channel,'email'),greater-or-equal(created_at,2024-08-01T00:00:00-07:00))`.
 *
 * `parseFilter` turns the text into a tree (syntax only); `compileFilter` checks it against one operation's allowed
 * fields, operators and value types and returns the conditions as tests over row values. Both throw a 400 ApiError
 * on `source.parameter: "filter"` whose detail says what is wrong and what would be right.
 */
import { invalid, type ApiError } from './errors';

export const OPERATORS = [
  'equals',
  'any',
  'greater-than',
  'greater-or-equal',
  'less-than',
  'less-or-equal',
  'contains',
  'starts-with',
  'ends-with',
  'has',
] as const;
export type Operator = (typeof OPERATORS)[number];

export type FilterValue =
  | { type: 'string'; value: string }
  | { type: 'datetime'; ms: number; text: string }
  | { type: 'number'; value: number }
  | { type: 'boolean'; value: boolean }
  | { type: 'null' }
  | { type: 'list'; items: FilterValue[] };

export interface ConditionNode {
  type: 'condition';
  operator: string;
  field: string;
  /** absent for one-argument operators such as `has(profile)` */
  value?: FilterValue;
}
export interface AndNode {
  type: 'and';
  terms: FilterNode[];
}
export type FilterNode = ConditionNode | AndNode;

/** Bounds that keep a hostile filter from costing more than a real one. */
export const FILTER_LIMITS = { maxDepth: 8, maxConditions: 100, maxListItems: 500 };

const DATETIME = /(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NAME = /[A-Za-z_$][A-Za-z0-9_.$-]*/y;
const OPERATOR_NAME = /[a-z][a-z-]*/y;
const BARE_WORD = /[^,()[\]\s]+/y;

function fail(detail: string): ApiError {
  return invalid('filter', detail);
}

/** Milliseconds since the epoch for a datetime literal's parts, or NaN if the calendar date or time does not exist. */
function datetimeMs(m: RegExpExecArray): number {
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  const ms = Number((frac + '000').slice(0, 3));
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const check = new Date(utc);
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    check.getUTCHours() !== Number(h) ||
    check.getUTCMinutes() !== Number(mi) ||
    check.getUTCSeconds() !== Number(s)
  ) {
    return NaN;
  }
  if (zone === 'Z') return utc;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
  if (Number(digits.slice(0, 2)) > 23 || Number(digits.slice(2, 4)) > 59) return NaN;
  return utc - sign * offsetMinutes * 60_000;
}

class Parser {
  private pos = 0;
  private conditions = 0;

  constructor(private readonly text: string) {}

  parse(): FilterNode {
    if (this.text.trim() === '') throw fail("The filter is empty; send e.g. equals(field,'value') or leave the parameter out.");
    // A top-level comma list is an implicit and(...), as Klaviyo reads it: Airbyte and the Singer tap send
    // `greater-or-equal(datetime,…),less-or-equal(datetime,…)` on every events request.
    const terms: FilterNode[] = [this.expression(1)];
    for (this.space(); this.text[this.pos] === ','; this.space()) {
      this.pos++;
      terms.push(this.expression(1));
    }
    if (this.pos < this.text.length)
      throw this.error(`unexpected '${this.text.slice(this.pos, this.pos + 20)}' after the end of the expression`);
    return terms.length === 1 ? terms[0] : { type: 'and', terms };
  }

  private error(what: string): ApiError {
    return fail(`Invalid filter at character ${this.pos + 1}: ${what}. Filter syntax: operator(field,value), combined with and(...).`);
  }

  private space(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private match(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m) this.pos = re.lastIndex;
    return m;
  }

  private expect(ch: string, what: string): void {
    this.space();
    if (this.text[this.pos] !== ch) {
      const found = this.pos < this.text.length ? `'${this.text.slice(this.pos, this.pos + 20)}'` : 'the end of the filter';
      throw this.error(`expected ${what} but found ${found}`);
    }
    this.pos++;
  }

  private expression(depth: number): FilterNode {
    if (depth > FILTER_LIMITS.maxDepth) throw this.error(`and(...) nested deeper than ${FILTER_LIMITS.maxDepth} levels`);
    this.space();
    const name = this.match(OPERATOR_NAME)?.[0];
    if (!name) throw this.error('expected an operator such as equals, any, greater-than or and');
    if (name === 'or' || name === 'not')
      throw fail(`The filter operator '${name}' is not supported by these endpoints; combine conditions with and(...).`);
    this.expect('(', `'(' after '${name}'`);
    if (name === 'and') {
      const terms: FilterNode[] = [this.expression(depth + 1)];
      for (this.space(); this.text[this.pos] === ','; this.space()) {
        this.pos++;
        terms.push(this.expression(depth + 1));
      }
      this.expect(')', "',' or ')' in and(...)");
      return { type: 'and', terms };
    }
    if (++this.conditions > FILTER_LIMITS.maxConditions)
      throw fail(`The filter has more than ${FILTER_LIMITS.maxConditions} conditions; split the request.`);
    this.space();
    const field = this.match(NAME)?.[0];
    if (!field) throw this.error(`expected a field name as the first argument of ${name}(...)`);
    this.space();
    if (this.text[this.pos] === ')') {
      this.pos++;
      return { type: 'condition', operator: name, field };
    }
    this.expect(',', `',' or ')' after the field '${field}'`);
    const value = this.value(true);
    this.space();
    if (this.text[this.pos] !== ')' && value.type === 'datetime' && /^\d{2}:?\d{2}/.test(this.text.slice(this.pos))) {
      throw this.error(
        `a datetime followed by a space and '${this.text.slice(this.pos, this.pos + 5)}': a '+' in a UTC offset arrives as a space unless it is percent-encoded as %2B (or use Z)`,
      );
    }
    this.expect(')', `')' to close ${name}(...)`);
    return { type: 'condition', operator: name, field, value };
  }

  private value(listAllowed: boolean): FilterValue {
    this.space();
    const ch = this.text[this.pos];
    if (ch === "'" || ch === '"') return this.string(ch);
    if (ch === '[') {
      if (!listAllowed) throw this.error('lists cannot be nested');
      this.pos++;
      const items: FilterValue[] = [];
      this.space();
      if (this.text[this.pos] === ']') throw this.error('the list is empty; give at least one value');
      for (;;) {
        items.push(this.value(false));
        if (items.length > FILTER_LIMITS.maxListItems) throw fail(`A filter list holds at most ${FILTER_LIMITS.maxListItems} values.`);
        this.space();
        if (this.text[this.pos] === ',') {
          this.pos++;
          continue;
        }
        this.expect(']', "',' or ']' in the list");
        return { type: 'list', items };
      }
    }
    const start = this.pos;
    const dt = this.match(DATETIME);
    if (dt && !/[\w:.]/.test(this.text[this.pos] ?? '')) {
      const ms = datetimeMs(dt);
      if (Number.isNaN(ms)) throw fail(`Invalid filter: '${dt[0]}' is not a valid datetime; use ISO 8601 like 2025-01-01T00:00:00Z.`);
      return { type: 'datetime', ms, text: dt[0] };
    }
    this.pos = start;
    const num = this.match(NUMBER);
    if (num && !/[\w:.-]/.test(this.text[this.pos] ?? '')) return { type: 'number', value: Number(num[0]) };
    this.pos = start;
    const word = this.match(BARE_WORD)?.[0];
    if (word === 'true' || word === 'false') return { type: 'boolean', value: word === 'true' };
    if (word === 'null') return { type: 'null' };
    this.pos = start;
    if (word === undefined) throw this.error('expected a value');
    throw fail(
      `Invalid filter value '${word.slice(0, 40)}': quote strings ('${word.slice(0, 20)}'), and write datetimes unquoted in ISO 8601 like 2025-01-01T00:00:00Z.`,
    );
  }

  private string(quote: string): FilterValue {
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) throw this.error(`unterminated string: no closing ${quote}`);
      const ch = this.text[this.pos++];
      if (ch === quote) return { type: 'string', value: out };
      if (ch === '\\' && this.pos < this.text.length) {
        out += this.text[this.pos++];
        continue;
      }
      if (ch < ' ') throw this.error('a string holds a control character; percent-encoding cannot make it valid');
      out += ch;
    }
  }
}

export function parseFilter(text: string): FilterNode {
  return new Parser(text).parse();
}

/** What values a filter field takes: datetimes are unquoted literals, `epoch-seconds` also takes integers. */
export type ValueKind = 'string' | 'datetime' | 'epoch-seconds' | 'boolean' | 'relationship';

export interface FilterFieldSpec {
  operators: readonly string[];
  kind: ValueKind;
}

export interface CompiledCondition {
  field: string;
  operator: Operator;
  /** true if one of the values found at the field satisfies the condition */
  test(values: readonly unknown[]): boolean;
  /** for a range condition on a datetime: the bound, in ms, used to narrow a sorted scan */
  bound?: { side: 'lower' | 'upper'; ms: number; inclusive: boolean };
  /** for equals/any on a string field: the accepted strings (lets `id` filters skip row generation) */
  oneOf?: ReadonlySet<string>;
  /** for `equals(field, value)` with a single value: that value (used for campaigns' channel and archived rules) */
  equals?: string | boolean;
}

export interface CompiledFilter {
  conditions: CompiledCondition[];
}

function describeValue(v: FilterValue): string {
  switch (v.type) {
    case 'string':
      return `the quoted string '${v.value}'`;
    case 'datetime':
      return `the datetime ${v.text}`;
    case 'number':
      return `the number ${v.value}`;
    case 'boolean':
      return String(v.value);
    case 'null':
      return 'null';
    case 'list':
      return 'a list';
  }
}

/** A row value as epoch milliseconds, for comparisons on datetime fields; null if it is not a time. */
export function timeOf(kind: ValueKind, v: unknown): number | null {
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? null : ms;
  }
  if (typeof v === 'number') return kind === 'epoch-seconds' ? v * 1000 : v;
  return null;
}

function scalarMs(kind: ValueKind, field: string, v: FilterValue, now: number): number {
  if (v.type === 'datetime') {
    if (v.ms > now) {
      throw fail(
        `The filter value ${v.text} for '${field}' is in the future (server time ${new Date(now).toISOString()}); clamp datetime filters to now.`,
      );
    }
    return v.ms;
  }
  if (kind === 'epoch-seconds' && v.type === 'number' && Number.isInteger(v.value)) return v.value * 1000;
  if (v.type === 'string' && !Number.isNaN(Date.parse(v.value))) {
    throw fail(`Invalid filter: '${field}' takes an unquoted datetime, e.g. ${v.value}, not the quoted string '${v.value}'.`);
  }
  throw fail(
    `Invalid filter: '${field}' takes a datetime like 2025-01-01T00:00:00Z${kind === 'epoch-seconds' ? ' or epoch seconds' : ''}, not ${describeValue(v)}.`,
  );
}

function compileCondition(
  node: ConditionNode,
  fields: Readonly<Record<string, FilterFieldSpec>>,
  context: string,
  now: number,
): CompiledCondition {
  const spec = fields[node.field];
  const allowedFields = Object.keys(fields);
  if (!(OPERATORS as readonly string[]).includes(node.operator)) {
    throw fail(`Invalid filter: '${node.operator}' is not a filter operator. Operators: ${OPERATORS.join(', ')}.`);
  }
  if (!spec) {
    throw fail(
      allowedFields.length === 0
        ? `Invalid filter: ${context} does not support filtering.`
        : `Invalid filter: '${node.field}' is not a filterable field of ${context}. Filterable fields: ${allowedFields.join(', ')}.`,
    );
  }
  const operator = node.operator as Operator;
  if (!spec.operators.includes(operator)) {
    throw fail(
      `Invalid filter: operator '${operator}' is not allowed on '${node.field}' for ${context}; allowed: ${spec.operators.join(', ')}.`,
    );
  }
  const field = node.field;
  const { kind } = spec;
  if (operator === 'has') {
    if (node.value) throw fail(`Invalid filter: has(${field}) takes only the field, e.g. has(${field}).`);
    return { field, operator, test: (values) => values.some((v) => v !== null && v !== undefined) };
  }
  const value = node.value;
  if (!value) throw fail(`Invalid filter: ${operator}(${field},value) needs a value.`);

  if (operator === 'greater-than' || operator === 'greater-or-equal' || operator === 'less-than' || operator === 'less-or-equal') {
    if (kind !== 'datetime' && kind !== 'epoch-seconds') throw fail(`Invalid filter: '${field}' cannot be compared with ${operator}.`);
    const ms = scalarMs(kind, field, value, now);
    const lower = operator.startsWith('greater');
    const inclusive = operator.endsWith('-or-equal');
    const test = (values: readonly unknown[]) =>
      values.some((v) => {
        const t = timeOf(kind, v);
        if (t === null) return false;
        return lower ? (inclusive ? t >= ms : t > ms) : inclusive ? t <= ms : t < ms;
      });
    return { field, operator, test, bound: { side: lower ? 'lower' : 'upper', ms, inclusive } };
  }

  if (operator === 'any' && value.type !== 'list') {
    throw fail(`Invalid filter: any(${field},...) takes a list like ['a','b'], not ${describeValue(value)}.`);
  }
  const items = value.type === 'list' ? value.items : [value];
  if (value.type === 'list' && operator !== 'any' && operator !== 'equals') {
    throw fail(`Invalid filter: ${operator}(${field},...) takes a single value, not a list.`);
  }

  if (kind === 'datetime' || kind === 'epoch-seconds') {
    const wanted = new Set(items.map((v) => scalarMs(kind, field, v, now)));
    return { field, operator, test: (values) => values.some((v) => wanted.has(timeOf(kind, v) ?? NaN)) };
  }
  if (kind === 'boolean') {
    const wanted = items.map((v) => {
      if (v.type !== 'boolean') throw fail(`Invalid filter: '${field}' is a boolean; use true or false, not ${describeValue(v)}.`);
      return v.value;
    });
    return {
      field,
      operator,
      test: (values) => values.some((v) => wanted.includes(v as boolean)),
      equals: wanted.length === 1 ? wanted[0] : undefined,
    };
  }
  if (kind === 'relationship') throw fail(`Invalid filter: '${field}' takes only has(${field}).`);
  const strings = items.map((v) => {
    if (v.type !== 'string')
      throw fail(
        `Invalid filter: '${field}' takes a quoted string like '${v.type === 'datetime' ? v.text : 'value'}', not ${describeValue(v)}.`,
      );
    return v.value;
  });
  if (operator === 'equals' || operator === 'any') {
    const set = new Set(strings);
    return {
      field,
      operator,
      test: (values) => values.some((v) => typeof v === 'string' && set.has(v)),
      oneOf: set,
      equals: strings.length === 1 ? strings[0] : undefined,
    };
  }
  const needle = strings[0];
  const match =
    operator === 'contains'
      ? (s: string) => s.includes(needle)
      : operator === 'starts-with'
        ? (s: string) => s.startsWith(needle)
        : (s: string) => s.endsWith(needle);
  return { field, operator, test: (values) => values.some((v) => typeof v === 'string' && match(v)) };
}

/**
 * Checks a parsed filter against an operation's filterable fields (`context` names the operation in messages) and
 * flattens its and(...) tree into the list of conditions a row must all satisfy. `now` is the server's clock in ms:
 * datetimes after it are rejected, as Klaviyo does.
 */
export function compileFilter(
  node: FilterNode,
  fields: Readonly<Record<string, FilterFieldSpec>>,
  context: string,
  now: number,
): CompiledFilter {
  const conditions: CompiledCondition[] = [];
  const walk = (n: FilterNode): void => {
    if (n.type === 'and') n.terms.forEach(walk);
    else conditions.push(compileCondition(n, fields, context, now));
  };
  walk(node);
  return { conditions };
}

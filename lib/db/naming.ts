/**
 * Object names from the config → physical tables, and the one place identifiers are checked and quoted.
 *
 * Every identifier that reaches SQL is validated here first and then always double-quoted (Postgres and SQLite accept
 * `"name"`; MySQL/MariaDB does under sql_mode ANSI_QUOTES, which lib/db/connect.ts sets on every connection); no SQL
 * in lib/db/ interpolates a name that has not passed through this module.
 *
 * Postgres: `schema.table` is a real schema and table.
 *
 * MySQL/MariaDB: a schema is a database (`CREATE SCHEMA` is `CREATE DATABASE` there), as Sling maps it: `schema.table`
 * is the table `table` in the database `schema`, created when missing (Dialect.lockSchema). The connection's own
 * database is only where the session starts, and the schema objects that name none go to.
 *
 * SQLite has no schemas (short of ATTACHing one file per schema), so `schema.table` becomes the single table
 * `schema__table`, e.g. `klaviyo.profiles` → `klaviyo__profiles`. Why a double underscore: names may only contain
 * single underscores between letters and digits (see NAME), so the separator cannot occur inside either part and the
 * mapping is one-to-one — `a_b.c` and `a.b_c` stay distinct (`a_b__c`, `a__b_c`), which a single `_` would merge. For
 * the same reason the names this layer makes itself cannot collide with a configured table: staging tables end in
 * `__staging` (and MySQL's swap renames the old table to `<table>__replaced` for a moment) and the state table starts
 * with `_` (`_klaviyo_sync_state`, in SQLite `klaviyo___klaviyo_sync_state`).
 */

export type DbKind = 'postgres' | 'sqlite' | 'mysql';

/** Where a stream lands, as configured: `{ schema: 'klaviyo', table: 'profiles' }`. */
export interface ObjectName {
  schema: string;
  table: string;
}

/** Thrown before any SQL runs when a configured or incoming name is not a safe identifier. Not worth retrying. */
export class IdentifierError extends Error {
  override name = 'IdentifierError';
}

/** lowercase letters and digits, starting with a letter, words joined by single underscores */
const NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
/** Postgres silently truncates identifiers to 63 bytes (MySQL allows 64) */
const MAX_IDENTIFIER = 63;
const STAGING_SUFFIX = '__staging';
const PKEY_SUFFIX = '_pkey';
/** a table name must leave room for `__staging_pkey`, the staging table's primary key constraint */
const MAX_TABLE = MAX_IDENTIFIER - STAGING_SUFFIX.length - PKEY_SUFFIX.length;
const STATE_TABLE = '_klaviyo_sync_state';
const CLAIMS_TABLE = '_klaviyo_sync_claims';

/** A name as a message shows it: JSON-quoted, cut at 64 characters (a config may hold anything). */
function shown(value: unknown): string {
  if (typeof value !== 'string' || value.length <= 64) return JSON.stringify(value) ?? String(value);
  return `${JSON.stringify(`${value.slice(0, 64)}…`)} (${value.length} characters)`;
}

function checkName(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || !NAME.test(value) || value.length > max) {
    throw new IdentifierError(
      `${what} ${shown(value)} is not a valid name: use 1 to ${max} lowercase letters, digits and single ` +
        `underscores, starting with a letter (e.g. "klaviyo" or "list_profiles")`,
    );
  }
  return value;
}

export function validateObjectName(object: ObjectName): ObjectName {
  return {
    schema: checkName(object?.schema, 'schema', MAX_IDENTIFIER),
    table: checkName(object?.table, `table (in schema ${shown(object?.schema)})`, MAX_TABLE),
  };
}

/**
 * Column names come from Klaviyo's attribute names (snake_case in the spec) and from our stream definitions. A name
 * outside that shape means the API changed in a way worth a look, so it fails loudly rather than being renamed.
 */
const COLUMN = /^[a-z_][a-z0-9_]*$/;

export function validateColumnName(name: string, context: string): string {
  if (!COLUMN.test(name) || name.length > MAX_IDENTIFIER) {
    throw new IdentifierError(
      `${context}: ${shown(name)} cannot be a column name (expected up to ${MAX_IDENTIFIER} lowercase ` +
        `letters, digits and underscores); if Klaviyo added this attribute, map it in lib/db/columns.ts`,
    );
  }
  return name;
}

/** A validated identifier, double-quoted. Quotes are doubled anyway so this stays safe if a check is ever missed. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A physical table: `schema` is null in SQLite, where the schema is folded into `name`. */
export interface TableRef {
  schema: string | null;
  name: string;
}

export function physicalTable(kind: DbKind, schema: string, table: string): TableRef {
  return kind === 'sqlite' ? { schema: null, name: `${schema}__${table}` } : { schema, name: table };
}

export function targetTable(kind: DbKind, object: ObjectName): TableRef {
  return physicalTable(kind, object.schema, object.table);
}

/** MySQL's swap renames the old target aside (one atomic RENAME TABLE) and then drops it: `<table>__replaced`. */
export function replacedTable(kind: DbKind, object: ObjectName): TableRef {
  return physicalTable(kind, object.schema, object.table + '__replaced');
}

/** The full-refresh staging table; swapped into the target by `finish`. */
export function stagingTable(kind: DbKind, object: ObjectName): TableRef {
  return physicalTable(kind, object.schema, object.table + STAGING_SUFFIX);
}

export function stateTable(kind: DbKind, schema: string): TableRef {
  return physicalTable(kind, schema, STATE_TABLE);
}

/** Which replication run holds each target table of the schema (claims.ts). */
export function claimsTable(kind: DbKind, schema: string): TableRef {
  return physicalTable(kind, schema, CLAIMS_TABLE);
}

/** The quoted SQL for a table reference: `"klaviyo"."profiles"` or `"klaviyo__profiles"`. */
export function tableSql(ref: TableRef): string {
  return ref.schema === null ? quoteIdent(ref.name) : `${quoteIdent(ref.schema)}.${quoteIdent(ref.name)}`;
}

/** Postgres names primary keys `<table>_pkey`; we set it explicitly so the swap can rename staging's to the target's. */
export function primaryKeyName(ref: TableRef): string {
  return ref.name + PKEY_SUFFIX;
}

/**
 * Database errors (pg's SQLSTATE codes, better-sqlite3's SQLITE_* codes, mysql2's ER_* codes, socket errors) in the classes of
 * lib/errors.ts: a connection that drops or a busy database is transient; a wrong password, a missing
 * privilege, a view that blocks the full-refresh swap, a value that no longer fits its column or a table with too
 * many columns is the user's to fix, and the message says how.
 *
 * The error may be wrapped (destination.ts wraps the swap's failure in a sentence that names the fix): the cause
 * chain is searched for the driver's error, and a wrapping message is kept, as it says more than the driver's.
 */
import { TransientError, UserFixableError, type FailureContext, type SyncError } from '../errors';

interface DriverError {
  code: string;
  message: string;
  error: unknown;
}

/** Socket-level codes: the database (or the path to it) is down or restarting. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

function isSqlState(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code);
}

/** The driver's error in a cause chain (also the first error of an AggregateError, as pg reports dual-stack connects). */
function driverError(err: unknown): DriverError | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    if (e instanceof AggregateError && e.errors.length > 0) e = e.errors[0];
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (
      typeof code === 'string' &&
      (code.startsWith('SQLITE_') || NETWORK_CODES.has(code) || (isSqlState(code) && isPgError(e)) || isMysqlError(e, code))
    ) {
      return { code, message: typeof message === 'string' ? message : code, error: e };
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** pg's DatabaseError carries severity and routine besides the SQLSTATE code. */
function isPgError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ('severity' in e || 'routine' in e);
}

/** mysql2's errors carry the server's errno and SQLSTATE next to the ER_* name; its own protocol errors a PROTOCOL_* one. */
function isMysqlError(e: unknown, code: string): boolean {
  const m = e as { errno?: unknown; sqlState?: unknown };
  return (code.startsWith('ER_') && (typeof m.errno === 'number' || typeof m.sqlState === 'string')) || code.startsWith('PROTOCOL_');
}

/** Retrying can fix it: deadlocks, lock waits, a server going away or out of connections, two writers adding one column. */
const MYSQL_TRANSIENT = new Set([
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_USER_LOCK_DEADLOCK',
  'ER_LOCK_ABORTED',
  'ER_STATEMENT_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_SHUTDOWN_COMPLETE',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  'ER_OUT_OF_RESOURCES',
  'ER_OUTOFMEMORY',
  'ER_CANT_CREATE_THREAD',
  'ER_HOST_IS_BLOCKED',
  // another writer added the same column at the same moment (MySQL has no ADD COLUMN IF NOT EXISTS); the retry reads
  // the catalog afresh
  'ER_DUP_FIELDNAME',
  // another prepare created the same table at the same moment
  'ER_TABLE_EXISTS_ERROR',
]);

function mysqlTransient(code: string): boolean {
  return MYSQL_TRANSIENT.has(code) || code.startsWith('PROTOCOL_');
}

/** What to do about a mysql2 ER_* code that retrying cannot fix; undefined when retrying can or the code is unknown. */
function mysqlFix(code: string, db: string): string | undefined {
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR') {
    return `check the user and password of connection ${db}, and the host the user may connect from`;
  }
  if (code === 'ER_BAD_DB_ERROR') return `create the database, or fix its name in connection ${db}`;
  if (/^ER_(DB|TABLE|COLUMN|SPECIFIC|PROC)ACCESS_DENIED_ERROR$|^ER_SPECIFIC_ACCESS_DENIED_ERROR$/.test(code)) {
    return `grant the user of connection ${db} the privilege named above (e.g. GRANT ALL ON <schema>.* TO <user>)`;
  }
  if (code === 'ER_TOO_MANY_FIELDS' || code === 'ER_TOO_BIG_ROWSIZE') {
    return (
      'MySQL allows at most 4,096 columns (and 65,535 bytes of a row outside its TEXT/JSON values) per table, and this ' +
      'stream carries more distinct attributes than that (custom properties become columns): remove unused properties ' +
      'in Klaviyo, drop unused columns, or disable the stream'
    );
  }
  if (
    [
      'ER_DATA_TOO_LONG',
      'ER_TRUNCATED_WRONG_VALUE',
      'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
      'ER_WARN_DATA_OUT_OF_RANGE',
      'ER_INVALID_JSON_TEXT',
      'ER_WRONG_VALUE',
      'ER_WRONG_VALUE_FOR_TYPE',
    ].includes(code)
  ) {
    return (
      'Klaviyo sent a value that does not fit the type its column was created with (an attribute changed type): ' +
      'alter that column to longtext or json, or drop the table so the next run creates it from the current values'
    );
  }
  if (['ER_NO_SUCH_TABLE', 'ER_BAD_FIELD_ERROR', 'ER_BAD_TABLE_ERROR', 'ER_CANT_DROP_FIELD_OR_KEY'].includes(code)) {
    return 'the table or schema was changed outside klaviyo-sync: restore it, or drop the table so the next run recreates it';
  }
  if (code === 'ER_NET_PACKET_TOO_LARGE') return 'raise max_allowed_packet on the MySQL server (a page of rows is sent in one statement)';
  if (
    code.startsWith('ER_ROW_IS_REFERENCED') ||
    code.startsWith('ER_NO_REFERENCED_ROW') ||
    code === 'ER_FK_COLUMN_CANNOT_DROP' ||
    code === 'ER_DROP_INDEX_FK'
  ) {
    return 'a full refresh swaps in a new table, so foreign keys on the old one block it: drop them, or sync the stream incrementally';
  }
  if (code === 'ER_CONSTRAINT_FAILED' || code === 'ER_CHECK_CONSTRAINT_VIOLATED' || code === 'ER_DUP_ENTRY') {
    return 'a constraint added to the table outside klaviyo-sync rejects the row: drop it';
  }
  if (code === 'ER_PARSE_ERROR' || code === 'ER_NOT_SUPPORTED_YET') {
    return `the server of connection ${db} does not speak this SQL: klaviyo-sync needs MySQL 8 or MariaDB 10.5 or later`;
  }
  return undefined;
}

/** What to do about a Postgres SQLSTATE that retrying cannot fix; undefined when retrying can. */
function postgresFix(code: string, db: string): string | undefined {
  if (code === '28P01' || code === '28000') return `check the user and password of connection ${db}, and pg_hba.conf on the server`;
  if (code === '3D000') return `create the database, or fix its name in connection ${db}`;
  if (code === '42501') return `grant the user of connection ${db} the privilege named above (e.g. GRANT CREATE ON SCHEMA ... TO ...)`;
  if (code === '2BP01') {
    return 'a full refresh swaps in a new table, so views or foreign keys on the old one block it: drop them, or sync the stream incrementally';
  }
  if (code === '54011') {
    return (
      'Postgres allows at most 1,600 columns per table, and this stream carries more distinct attributes than that ' +
      '(custom properties become columns): remove unused properties in Klaviyo, drop unused columns and VACUUM FULL ' +
      'the table, or disable the stream'
    );
  }
  if (code === '42804' || code.startsWith('22')) {
    return (
      'Klaviyo sent a value that does not fit the type its column was created with (an attribute changed type): ' +
      'alter that column to text or jsonb, or drop the table so the next run creates it from the current values'
    );
  }
  if (code === '42P01' || code === '42703' || code === '42P07' || code === '42701' || code === '3F000') {
    return 'the table or schema was changed outside klaviyo-sync: restore it, or drop the table so the next run recreates it';
  }
  if (code.startsWith('42')) return `fix the table or the privileges of connection ${db} named above`;
  if (code.startsWith('23')) return 'a constraint added to the table outside klaviyo-sync rejects the row: drop it';
  if (code === '53400') return 'raise the Postgres setting named above';
  return undefined;
}

/** Retrying can fix it: connection exceptions, shutdowns, serialization failures and deadlocks, resource limits. */
function postgresTransient(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('57P') ||
    code === '57014' ||
    code === '40001' ||
    code === '40P01' ||
    code === '55P03' ||
    code.startsWith('53') ||
    code === 'XX000'
  );
}

/** What to do about a SQLite error code that retrying cannot fix; undefined when retrying can. */
function sqliteFix(code: string, db: string): string | undefined {
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_PROTOCOL') {
    return undefined;
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return `make the file of connection ${db} and its directory writable by this worker, or point the connection elsewhere`;
  }
  if (code === 'SQLITE_FULL') return `free space on the disk that holds the file of connection ${db}`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return `the file of connection ${db} is not a healthy SQLite database: point the connection at another file`;
  }
  if (code === 'SQLITE_TOOBIG' || code === 'SQLITE_MISMATCH' || code.startsWith('SQLITE_CONSTRAINT')) {
    return 'Klaviyo sent a value SQLite cannot store in this table as it stands: drop the table so the next run recreates it';
  }
  // SQLITE_ERROR and the rest: a statement that fails the same way every time (no such table, too many columns, a
  // view in the way of a rename)
  return 'the table was changed outside klaviyo-sync or cannot hold this stream: fix it as the error says, or drop it so the next run recreates it';
}

/** knex puts the statement (with its values) in front of the driver's message: keep the driver's words, briefly. */
function driverWords(message: string): string {
  const m = /^\s*(select|insert|update|delete|create|alter|drop|rename|begin|commit|with|pragma)\b[\s\S]*? - ([\s\S]*)$/i.exec(message);
  const words = m ? m[2] : message;
  return words.length > 500 ? `${words.slice(0, 500)}…` : words;
}

/** The class of a database error, or undefined if `err` is not one. */
export function classifyDatabaseError(err: unknown, ctx: FailureContext = {}): SyncError | undefined {
  if (err instanceof Error && err.name === 'KnexTimeoutError') {
    return new TransientError(`no database connection became free in time (${err.message}); this is retried`, {
      type: 'DatabaseUnavailable',
    });
  }
  const found = driverError(err);
  if (!found) {
    // pg's own words when the server closes the connection (a restart, a proxy), with no code
    const words = err instanceof Error ? err.message : '';
    if (!/^Connection terminated\b/.test(words)) return undefined;
    return new TransientError(
      `${ctx.database ? `database ${ctx.database}` : 'the target database'} closed the connection (${words}); this is retried`,
      {
        type: 'DatabaseUnavailable',
      },
    );
  }
  const code = found.code;
  const message = driverWords(found.message);
  const db = ctx.database ?? 'the target';
  const database = ctx.database ? `database ${ctx.database}` : 'the target database';
  // no cause: the replication's summary shows a failure's innermost message, which must be the one naming the fix
  const details = { code, connection: ctx.database, detail: message };
  // a sentence wrapping the driver's error (destination.ts's swap) already says what happened and what to do
  const wrapping = err instanceof Error && err.message !== found.message ? driverWords(err.message) : undefined;

  if (NETWORK_CODES.has(code)) {
    return new TransientError(
      `cannot reach ${database}: ${code} ${message}; this is retried, and if it persists check that the server runs ` +
        `and the host and port of connection ${db}`,
      { type: 'DatabaseUnavailable', details },
    );
  }
  const sqlite = code.startsWith('SQLITE_');
  const mysql = !sqlite && isMysqlError(found.error, code);
  const transient = sqlite ? false : mysql ? mysqlTransient(code) : postgresTransient(code);
  const fix = sqlite ? sqliteFix(code, db) : transient ? undefined : mysql ? mysqlFix(code, db) : postgresFix(code, db);
  if (fix === undefined) {
    if (!sqlite && !transient) return undefined;
    return new TransientError(`${wrapping ?? `${database} answered ${code}: ${message}`}; this is retried`, {
      type: 'DatabaseUnavailable',
      details,
    });
  }
  return new UserFixableError(wrapping ?? `${database} answered ${code}: ${message}; ${fix}`, { type: 'DatabaseUserError', details });
}

/**
 * Sling-style connections: a replication names its source and target, and the secrets live elsewhere.
 *
 * This module's parts: model.ts (the connection types and their redacted views), lookup.ts (the lookup order),
 * parse-url.ts and parse-object.ts (the two written forms).
 *
 * A connection NAME is looked up, first match wins:
 *   1. an environment variable of that name (or its upper-case form) holding
 *      - a URL: `postgresql://user:password@host:5432/db?sslmode=require[&schema=s]`,
 *        `mysql://user:password@host:3306/db` (or `mariadb://`), `sqlite:///abs/path.db`,
 *        `sqlite://./relative.db` (everything after `sqlite://` is a path; a leading `/` makes it absolute, so
 *        `sqlite:///data/k.db` is `/data/k.db`; other paths are relative to the working directory), or
 *      - a YAML or JSON object, e.g. `{ type: api, spec: klaviyo, secrets: { api_key: pk_... } }`;
 *   2. `connections.<NAME>` in an env.yaml: `$KLAVIYO_SYNC_ENV_FILE`, then `./env.yaml`, then `~/.sling/env.yaml`.
 *
 * Object forms: `{ type: api, spec: klaviyo, secrets: { api_key, base_url? }, base_url? }`,
 * `{ type: postgres, url }` or `{ type: postgres, host, port?, user?, password?, database, schema?, sslmode? }`,
 * `{ type: mysql, url }` or `{ type: mysql, host, port?, user?, password?, database? }`,
 * `{ type: sqlite, database: path }` (or `url`).
 *
 * Secrets (the API key, a Postgres URL with its password) are non-enumerable and every printable view of a
 * connection (`toString`, `JSON.stringify`, `util.inspect`, error messages) is redacted, so a stray log cannot leak
 * them. Connections are resolved where they are used (activities, CLI); never pass one through a workflow.
 */
export {
  ConnectionError,
  DEFAULT_KLAVIYO_BASE_URL,
  KlaviyoConnection,
  MysqlConnection,
  PostgresConnection,
  SqliteConnection,
  describeConnection,
  targetOfConnection,
  type Connection,
  type ConnectionKind,
  type DatabaseConnection,
} from './model';
export {
  CONNECTION_NAME,
  ENV_FILE_VARIABLE,
  envFileSearch,
  resolveConnection,
  targetSchemaOf,
  type EnvFileSearch,
  type ResolveConnectionOptions,
} from './lookup';
export { readDotenvSling, DOTENV_SLING } from './dotenv-sling';
export { setConnection, setConnectionLine, unsetConnection, envFileToWrite, definitionOf } from './set';

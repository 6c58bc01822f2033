/**
 * What every mode of one bench run shares: a Temporal dev server (in memory, headless) with a client, an embedded
 * Postgres (or PG_TEST_URL) and a temporary directory for SQLite files. Modes keep apart by workflow id and by
 * table schema, so one server of each serves them all.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startDevServer, type DevServer } from '../../client/dev-server';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres';
import { onCleanup } from './cleanup';

export interface Services {
  temporal: DevServer;
  client: Client;
  postgres: TestPostgres;
  tmp: string;
}

export async function startServices(): Promise<Services> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-bench-'));
  onCleanup('temporary directory', async () => fs.rmSync(tmp, { recursive: true, force: true }));
  const [temporal, postgres] = await Promise.all([
    startDevServer().then((server) => {
      onCleanup('Temporal dev server', () => server.stop());
      return server;
    }),
    startPostgres().then((pg) => {
      onCleanup('Postgres', () => pg.stop());
      return pg;
    }),
  ]);
  const connection = await Connection.connect({ address: temporal.address });
  onCleanup('Temporal client', () => connection.close());
  return { temporal, client: new Client({ connection }), postgres, tmp };
}

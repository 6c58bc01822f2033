/**
 * A real MariaDB (or MySQL) for tests: the server from the Debian packages (`mariadb-server`: /usr/sbin/mariadbd,
 * or mysqld), on a free port, with a throwaway data directory under the OS temp dir. Set MYSQL_TEST_URL to use a
 * running server instead. Without a server binary the tests fail with the fix in the message: never a skip.
 *
 * The server runs as root only when asked (`--user=root`), which is how containers and CI run it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../client/dev-server';

export interface TestMysql {
  /** a connection URL to an empty database, as a user with a password */
  url: string;
  /** that user's password, for tests that check it never shows */
  password: string;
  /** the server's version, e.g. `10.11.6-MariaDB-0+deb12u1` */
  version: string;
  database: string;
  stop(): Promise<void>;
}

const DATABASE = 'klaviyo_sync_test';
const START_TIMEOUT_MS = 60_000;
const FIX =
  'install the server (apt-get install mariadb-server, or the mysql-server package), or set MYSQL_TEST_URL=mysql://user:password@host:port/db';

/** The server binary: on PATH or in /usr/sbin, where Debian puts it (not always on PATH). */
function serverBinary(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/mysql/bin'];
  for (const name of ['mariadbd', 'mysqld']) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (dir && fs.existsSync(file)) return file;
    }
  }
  return undefined;
}

function installDbBinary(): string | undefined {
  for (const file of ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db', '/usr/local/bin/mariadb-install-db']) {
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

async function versionOf(url: string): Promise<string> {
  const mysql2 = await import('mysql2/promise');
  const u = new URL(url);
  const conn = await mysql2.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  });
  try {
    const [rows] = await conn.query('SELECT VERSION() AS v');
    return (rows as Array<{ v: string }>)[0].v;
  } finally {
    await conn.end();
  }
}

export async function startMysql(): Promise<TestMysql> {
  if (process.env.MYSQL_TEST_URL) {
    const url = process.env.MYSQL_TEST_URL;
    const u = new URL(url);
    return {
      url,
      password: decodeURIComponent(u.password),
      version: await versionOf(url),
      database: decodeURIComponent(u.pathname.slice(1)),
      stop: async () => {},
    };
  }
  const server = serverBinary();
  const installDb = installDbBinary();
  if (!server || !installDb) {
    const where = process.env.CI === 'true' ? 'CI needs a MySQL/MariaDB server for these tests' : 'no MySQL/MariaDB server here';
    throw new Error(`${where}: neither mariadbd nor mysqld (with mariadb-install-db) was found on PATH or in /usr/sbin; ${FIX}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klaviyo-sync-mysql-'));
  const datadir = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const asRoot = os.userInfo().uid === 0;
  const user = asRoot ? ['--user=root'] : [];
  const install = await run(installDb, [
    '--no-defaults',
    `--datadir=${datadir}`,
    '--auth-root-authentication-method=normal',
    '--skip-test-db',
    ...user,
  ]);
  if (install.code !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`${installDb} failed (exit ${install.code}); ${FIX}\n${install.output.slice(-4000)}`);
  }
  const port = await freePort();
  const child: ChildProcess = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--port=${port}`,
      `--socket=${socket}`,
      `--pid-file=${path.join(dir, 'mysqld.pid')}`,
      '--bind-address=127.0.0.1',
      // small: the tests share two cores and little memory
      '--innodb-buffer-pool-size=64M',
      '--skip-log-bin',
      ...user,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      // a server that dies under a test (a crash) would otherwise show only as refused connections, retried
      if (!stopping) process.stderr.write(`${server} exited unexpectedly (${signal ?? code}):\n${log.slice(-4000)}\n`);
      resolve();
    }),
  );
  const stop = async () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
    fs.rmSync(dir, { recursive: true, force: true });
  };

  const password = crypto.randomBytes(12).toString('hex');
  const mysql2 = await import('mysql2/promise');
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      // root has no password and reaches the server by its socket; the tests get a user with one, over TCP
      const admin = await mysql2.createConnection({ socketPath: socket, user: 'root' });
      try {
        await admin.query(`CREATE USER 'klaviyo_test'@'%' IDENTIFIED BY '${password}'`);
        await admin.query(`GRANT ALL ON *.* TO 'klaviyo_test'@'%'`);
        await admin.query(`CREATE DATABASE ${DATABASE}`);
      } finally {
        await admin.end();
      }
      break;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const starting = code === 'ENOENT' || code === 'ECONNREFUSED';
      if (!starting || child.exitCode !== null || Date.now() > deadline) {
        await stop().catch(() => undefined);
        const why = child.exitCode !== null ? `the server exited (${child.exitCode})` : (err as Error).message;
        throw new Error(`${server} did not start (data dir ${datadir}, port ${port}): ${why}; ${FIX}\n${log.slice(-4000)}`, {
          cause: err,
        });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const url = `mysql://klaviyo_test:${password}@127.0.0.1:${port}/${DATABASE}`;
  return { url, password, version: await versionOf(url), database: DATABASE, stop };
}

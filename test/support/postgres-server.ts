// A private PostgreSQL server for fault tests: initdb in a temp dir, on a free port of 127.0.0.1,
// that a test may stop and restart (the shared server on 5432 must never be restarted). initdb and
// postgres refuse to run as root, so as root they run as the `postgres` user through runuser.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const START_TIMEOUT_S = 60;

export interface PrivatePostgres {
  port: number;
  /** URL of database `name` (default `postgres`) on this server. */
  url(name?: string): string;
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: sessions are cut, as in a real restart) and starts it again. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Removes the data directory after stopping. */
  destroy(): Promise<void>;
}

/** The directory of PostgreSQL's server binaries: FILESET_TEST_PG_BIN, else the newest /usr/lib/postgresql/N/bin. */
function pgBin(): string {
  const explicit = process.env.FILESET_TEST_PG_BIN;
  if (explicit) return explicit;
  for (const version of ['17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error('no PostgreSQL server binaries found (set FILESET_TEST_PG_BIN to the directory holding initdb)');
}

/** As root, commands run as `postgres` (initdb: "cannot be run as root"). */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

function run(command: string, args: string[]): Promise<string> {
  const [cmd, argv] = asServerUser(command, args);
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBin();
  const dir = await mkdtemp(join(tmpdir(), 'fileset-pg-'));
  if (userInfo().uid === 0) {
    const [uid, gid] = await serverIds();
    await chown(dir, uid, gid);
  }
  const dataDir = join(dir, 'data');
  await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const pgCtl = join(bin, 'pg_ctl');
  const logFile = join(dir, 'postgres.log');
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c max_connections=200',
  ].join(' ');

  const url = (name = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${name}`;

  const start = async (): Promise<void> => {
    await run(pgCtl, ['start', '-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', String(START_TIMEOUT_S)]);
  };
  // Fast shutdown: open sessions are cut, as when an operator restarts the server.
  const stop = async (): Promise<void> => {
    await run(pgCtl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']).catch((err: unknown) => {
      if (!/Is server running\?|No such file/.test(String(err))) throw err;
    });
  };

  await start();
  return {
    port,
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async restart(options = {}) {
      await stop();
      if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs));
      await start();
    },
    stop,
    start,
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function serverIds(): Promise<[number, number]> {
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) =>
      execFile('id', [flag, 'postgres'], (err, out) => (err ? reject(err) : resolve(Number(out.trim())))),
    );
  return [await id('-u'), await id('-g')];
}

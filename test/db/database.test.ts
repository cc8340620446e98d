// Both backends behind one interface: the same assertions run on embedded PGlite and on the real
// PostgreSQL (a throw-away database per run).
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { ConfigError, InfrastructureError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { silentLogger } from '../support/context.js';

interface Backend {
  name: 'pglite' | 'postgres';
  open(): Promise<Database>;
  dispose(): Promise<void>;
}

function pgliteBackend(): Backend {
  let dataDir = '';
  return {
    name: 'pglite',
    async open() {
      dataDir ||= await mkdtemp(join(tmpdir(), 'fileset-db-'));
      return openDatabase({ dataDir, databaseUrl: undefined }, silentLogger);
    },
    async dispose() {
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  let database: TestDatabase | undefined;
  return {
    name: 'postgres',
    async open() {
      database ??= await createTestDatabase();
      return openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
    },
    async dispose() {
      await database?.drop();
    },
  };
}

describe.each([pgliteBackend(), postgresBackend()])('Database on $name', (backend) => {
  let db: Database;

  beforeAll(async () => {
    db = await backend.open();
    await db.exec(`
      CREATE TABLE item (id bigint PRIMARY KEY, name text NOT NULL CHECK (name <> ''));
      CREATE TABLE other (n int);
    `);
  });

  afterAll(async () => {
    await db?.close();
    await backend.dispose();
  });

  it('reports its kind', () => {
    expect(db.kind).toBe(backend.name);
  });

  it('returns bigint columns and count(*) as numbers, past 2^32', async () => {
    await db.query('INSERT INTO item (id, name) VALUES ($1, $2), ($3, $4)', [5_000_000_000, 'big', 1, 'small']);
    const rows = await db.query<{ id: unknown; n: unknown; s: unknown }>(
      'SELECT id, (SELECT count(*) FROM item) AS n, sum(id)::bigint AS s FROM item WHERE id = $1 GROUP BY id',
      [5_000_000_000],
    );
    expect(rows).toEqual([{ id: 5_000_000_000, n: 2, s: 5_000_000_000 }]);
    expect(typeof rows[0]!.id).toBe('number');
  });

  it('returns a bigint beyond 2^53 as a bigint rather than a rounded number', async () => {
    const [row] = await db.query<{ v: unknown }>('SELECT 9007199254740993::bigint AS v');
    expect(row!.v).toBe(9007199254740993n);
  });

  it('runs multi-statement SQL with exec', async () => {
    await db.exec('INSERT INTO other VALUES (1); INSERT INTO other VALUES (2);');
    expect(await db.query('SELECT n FROM other ORDER BY n')).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('passes SQL errors through with their SQLSTATE and constraint', async () => {
    const err = await db.query("INSERT INTO item (id, name) VALUES (2, '')").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '23514', constraint: 'item_name_check' });
    expect(err).not.toBeInstanceOf(InfrastructureError);
  });

  it('commits a transaction and returns its value', async () => {
    const value = await db.transaction(async (tx) => {
      await tx.query("INSERT INTO item VALUES (10, 'ten')");
      return (await tx.query<{ n: number }>('SELECT count(*) AS n FROM item'))[0]!.n;
    });
    expect(value).toBe(3);
    expect(await db.query('SELECT name FROM item WHERE id = 10')).toEqual([{ name: 'ten' }]);
  });

  it('rolls a transaction back when its function throws', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO item VALUES (11, 'eleven')");
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await db.query('SELECT * FROM item WHERE id = 11')).toEqual([]);
  });

  it('rolls back a failed statement inside a transaction, and the transaction with it', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO item VALUES (12, 'twelve')");
        await tx.query("INSERT INTO item VALUES (12, 'again')");
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await db.query('SELECT * FROM item WHERE id = 12')).toEqual([]);
  });

  it('turns a nested transaction into a savepoint', async () => {
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO item VALUES (20, 'kept')");
      await expect(
        tx.transaction(async (inner) => {
          await inner.query("INSERT INTO item VALUES (21, 'dropped')");
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      await tx.transaction(async (inner) => inner.query("INSERT INTO item VALUES (22, 'inner kept')"));
    });
    const rows = await db.query<{ id: number }>('SELECT id FROM item WHERE id BETWEEN 20 AND 29 ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([20, 22]);
  });

  it('refuses a transaction handle used after its transaction ended', async () => {
    let leaked: Database | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked!.query('SELECT 1')).rejects.toThrow(/after its transaction ended/);
    await expect(leaked!.close()).rejects.toThrow(/not a transaction handle/);
  });

  it('runs concurrent queries and transactions without mixing them up', async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        db
          .transaction(async (tx) => {
            await tx.query('INSERT INTO item VALUES ($1, $2)', [100 + i, `n${i}`]);
            if (i % 2) throw new Error('odd');
          })
          .catch(() => undefined),
      ),
    );
    const rows = await db.query<{ id: number }>('SELECT id FROM item WHERE id BETWEEN 100 AND 199 ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([100, 102, 104, 106]);
  });
});

describe('PGlite', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fileset-pglite-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('persists under <dataDir>/pglite, shares one instance per directory and locks it while open', async () => {
    const config = { dataDir, databaseUrl: undefined };
    const [a, b] = await Promise.all([openDatabase(config, silentLogger), openDatabase(config, silentLogger)]);
    await a.exec('CREATE TABLE kept (v text)');
    await b.query("INSERT INTO kept VALUES ('written by b')");
    expect(await a.query('SELECT v FROM kept')).toEqual([{ v: 'written by b' }]);
    expect((await stat(join(dataDir, 'pglite', 'PG_VERSION'))).isFile()).toBe(true);
    expect(await readFile(join(dataDir, 'pglite.lock'), 'utf8')).toBe(`${process.pid}\n`);

    await a.close();
    await a.close(); // idempotent, and does not close b's instance
    await expect(a.query('SELECT 1')).rejects.toThrow(/closed/);
    expect(await b.query('SELECT count(*) AS n FROM kept')).toEqual([{ n: 1 }]);
    await b.close();
    await expect(stat(join(dataDir, 'pglite.lock'))).rejects.toMatchObject({ code: 'ENOENT' });

    const reopened = await openDatabase(config, silentLogger);
    expect(await reopened.query('SELECT v FROM kept')).toEqual([{ v: 'written by b' }]);
    await reopened.close();
  });

  it('refuses a directory another live process holds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileset-pglite-held-'));
    try {
      await writeFile(join(dir, 'pglite.lock'), `${process.ppid}\n`);
      const err = await openDatabase({ dataDir: dir, databaseUrl: undefined }, silentLogger).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as Error).message).toMatch(new RegExp(`in use by process ${process.ppid}`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes over a lock left by a process that is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fileset-pglite-stale-'));
    try {
      const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
      await writeFile(join(dir, 'pglite.lock'), `${gone}\n`);
      const db = await openDatabase({ dataDir: dir, databaseUrl: undefined }, silentLogger);
      expect(await readFile(join(dir, 'pglite.lock'), 'utf8')).toBe(`${process.pid}\n`);
      await db.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('PostgreSQL connection', () => {
  it('reports an unreachable server as InfrastructureError without the password', async () => {
    const err = await openDatabase(
      { dataDir: '/nonexistent', databaseUrl: 'postgres://fileset:s3cr3t-pw@127.0.0.1:1/nowhere' },
      silentLogger,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as Error).message).toContain('postgres://fileset:***@127.0.0.1:1/nowhere');
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('s3cr3t-pw');
    expect(String((err as Error).stack)).not.toContain('s3cr3t-pw');
  });

  it('reports a login the server refuses as InfrastructureError without the password', async () => {
    const database = await createTestDatabase();
    try {
      const url = new URL(database.url);
      url.username = 'no_such_role_fileset';
      url.password = 'wr0ng-pw';
      const err = await openDatabase({ dataDir: '/nonexistent', databaseUrl: url.toString() }, silentLogger).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as Error).message).not.toContain('wr0ng-pw');
      expect((err as Error).message).toMatch(/no_such_role_fileset/);
    } finally {
      await database.drop();
    }
  });

  it('rejects a URL that is not postgres:// as a configuration error', async () => {
    const err = await openDatabase({ dataDir: '/x', databaseUrl: 'mysql://root:hunter2@db/x' }, silentLogger).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('hunter2');
  });

  it('parses int8 on its own pool only, leaving pg’s global parsers alone', async () => {
    const database = await createTestDatabase();
    const db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
    try {
      expect(await db.query('SELECT 42::bigint AS v')).toEqual([{ v: 42 }]);
      const plain = new pg.Client({ connectionString: database.url });
      await plain.connect();
      expect((await plain.query('SELECT 42::bigint AS v')).rows).toEqual([{ v: '42' }]);
      await plain.end();
    } finally {
      await db.close();
      await database.drop();
    }
  });

  it('turns a connection killed mid-use into InfrastructureError', async () => {
    const database = await createTestDatabase();
    const db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: database.url }, silentLogger);
    try {
      const err = await db
        .transaction(async (tx) => {
          await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InfrastructureError);
      // the pool replaces the dead connection
      expect(await db.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    } finally {
      await db.close();
      await database.drop();
    }
  });
});

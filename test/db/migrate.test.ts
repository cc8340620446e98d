// Migrations: applied once, in order, each atomically, and safely from several workers at once.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import { listMigrations, migrate, sqlDirectory } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { silentLogger } from '../support/context.js';

let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fileset-migrate-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A directory of migration files, named and filled as given. */
async function sqlDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(scratch, 'sql-'));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return dir;
}

async function versions(db: Database): Promise<string[]> {
  const rows = await db.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((r) => r.version);
}

describe('sqlDirectory', () => {
  it('finds the package sql/ directory with the capture index migration', async () => {
    const dir = sqlDirectory();
    expect(dir).toMatch(/[/\\]sql$/);
    expect(await readdir(dir)).toContain('001_capture_index.sql');
    expect((await listMigrations(dir)).map((m) => m.version)[0]).toBe('001_capture_index');
  });
});

describe('listMigrations', () => {
  it('orders by number and ignores files that are not migrations', async () => {
    const dir = await sqlDir({
      '010_b.sql': '',
      '002_a.sql': '',
      'README.md': '',
      '3_bad.sql': '',
      '004_x.sql.bak': '',
    });
    expect((await listMigrations(dir)).map((m) => m.version)).toEqual(['002_a', '010_b']);
  });

  it('refuses two migrations with one number', async () => {
    const dir = await sqlDir({ '002_a.sql': '', '002_b.sql': '' });
    await expect(listMigrations(dir)).rejects.toThrow(/two migrations numbered 002/);
  });
});

describe('migrate on PostgreSQL', () => {
  let database: TestDatabase;
  const open: Database[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((db) => db.close()));
  });

  afterAll(async () => {
    await database.drop();
  });

  async function connect(url = database.url): Promise<Database> {
    const db = await openDatabase({ dataDir: '/nonexistent', databaseUrl: url }, silentLogger);
    open.push(db);
    return db;
  }

  it('applies the real migrations once; a second run applies nothing', async () => {
    const db = await connect();
    expect(await migrate(db, silentLogger)).toEqual([
      '001_capture_index',
      '002_sandcrawler_tables',
      '003_capture_record_ids',
      '004_request_budgets',
    ]);
    expect(await migrate(db, silentLogger)).toEqual([]);
    expect(await versions(db)).toEqual([
      '001_capture_index',
      '002_sandcrawler_tables',
      '003_capture_record_ids',
      '004_request_budgets',
    ]);
    const [table] = await db.query<{ n: number }>(
      "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'capture'",
    );
    expect(table!.n).toBe(1);
  });

  it('lets two workers migrate at once: each migration runs exactly once', async () => {
    const fresh = await createTestDatabase();
    try {
      // Non-idempotent DDL and a pause: without the lock the second worker would fail on
      // "relation already exists" or apply 002 twice.
      const dir = await sqlDir({
        '001_one.sql': 'CREATE TABLE one (id int); SELECT pg_sleep(0.2);',
        '002_two.sql': 'CREATE TABLE two (id int); INSERT INTO one VALUES (2);',
      });
      const [a, b] = [await connect(fresh.url), await connect(fresh.url)];
      const [ranA, ranB] = await Promise.all([migrate(a, silentLogger, dir), migrate(b, silentLogger, dir)]);
      expect([...ranA, ...ranB].sort()).toEqual(['001_one', '002_two']);
      expect(await versions(a)).toEqual(['001_one', '002_two']);
      expect(await a.query('SELECT id FROM one')).toEqual([{ id: 2 }]);
    } finally {
      await Promise.all(open.splice(0).map((db) => db.close()));
      await fresh.drop();
    }
  });

  it('rolls back a failing migration whole, keeping the ones before it', async () => {
    const fresh = await createTestDatabase();
    try {
      const dir = await sqlDir({
        '001_ok.sql': 'CREATE TABLE ok (id int);',
        '002_broken.sql': 'CREATE TABLE half (id int); SELECT no_such_function();',
        '003_later.sql': 'CREATE TABLE later (id int);',
      });
      const db = await connect(fresh.url);
      await expect(migrate(db, silentLogger, dir)).rejects.toMatchObject({ code: '42883' });
      expect(await versions(db)).toEqual(['001_ok']);
      expect(
        await db.query("SELECT table_name FROM information_schema.tables WHERE table_name IN ('half', 'later')"),
      ).toEqual([]);
    } finally {
      await Promise.all(open.splice(0).map((db) => db.close()));
      await fresh.drop();
    }
  });
});

describe('migrate on PGlite', () => {
  it('applies the real migrations once; a second run applies nothing', async () => {
    const dataDir = await mkdtemp(join(scratch, 'pglite-'));
    const db = await openDatabase({ dataDir, databaseUrl: undefined }, silentLogger);
    try {
      expect(await migrate(db, silentLogger)).toEqual([
        '001_capture_index',
        '002_sandcrawler_tables',
        '003_capture_record_ids',
        '004_request_budgets',
      ]);
      expect(await migrate(db, silentLogger)).toEqual([]);
      expect(await versions(db)).toEqual([
        '001_capture_index',
        '002_sandcrawler_tables',
        '003_capture_record_ids',
        '004_request_budgets',
      ]);
    } finally {
      await db.close();
    }
  });
});

// The runtime picks the request budgets: shared through the database when it is a PostgreSQL
// server, this process's own with the embedded database.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/pipeline/runtime.js';
import { startServer, type TestServer } from '../http/helpers.js';
import { silentLogger, testConfig } from '../support/context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let server: TestServer;
let dataDir: string;
let database: TestDatabase;

beforeAll(async () => {
  // Every first request of a path is told to come back in a second.
  const seen = new Set<string>();
  server = await startServer((req, res) => {
    const first = !seen.has(req.url ?? '');
    seen.add(req.url ?? '');
    res.writeHead(first ? 429 : 200, first ? { 'Retry-After': '1' } : {}).end('ok');
  });
  dataDir = await mkdtemp(join(tmpdir(), 'fileset-runtime-'));
  database = await createTestDatabase();
});

afterAll(async () => {
  await server?.close();
  await database?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Fetches `path` through the runtime's client (429 first, then 200), and returns the pauses the database holds. */
async function pausesAfter429(runtime: Runtime, path: string): Promise<string[]> {
  try {
    const response = await runtime.deps.http.request(`https://zenodo.org${path}`, { budget: 'zenodo:api' });
    expect(response.statusCode).toBe(200);
    expect(await text(response.body)).toBe('ok');
    const rows = await runtime.db.query<{ budget: string }>('SELECT budget FROM fileset_budget ORDER BY budget');
    return rows.map((r) => r.budget);
  } finally {
    await runtime.close();
  }
}

describe('openRuntime request budgets', () => {
  it('with PostgreSQL: a 429 pauses the budget and the host for the fleet, and the observer is told', async () => {
    const events: string[] = [];
    const config = testConfig(server.origin, {
      FILESET_DATA_DIR: join(dataDir, 'pg'),
      FILESET_DATABASE_URL: database.url,
    });
    const runtime = await openRuntime(config, silentLogger, {
      budgetObserver: {
        waited: (budget) => events.push(`waited ${budget}`),
        paused: (b) => events.push(`paused ${b}`),
      },
    });
    expect(await pausesAfter429(runtime, '/shared')).toEqual(['host:zenodo.org', 'zenodo:api']);
    expect(events).toEqual(['waited zenodo:api', 'paused host:zenodo.org', 'paused zenodo:api', 'waited zenodo:api']);
  });

  it('with the embedded database: the pause stays in the process', async () => {
    const config = testConfig(server.origin, { FILESET_DATA_DIR: join(dataDir, 'embedded') });
    expect(config.databaseUrl).toBeUndefined();
    const runtime = await openRuntime(config, silentLogger);
    expect(runtime.db.kind).toBe('pglite');
    expect(await pausesAfter429(runtime, '/local')).toEqual([]);
  });
});

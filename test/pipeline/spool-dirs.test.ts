// Regression: a worker killed with SIGKILL left its spool directory (<data dir>/tmp/<pid>, with any
// body it was spooling) for good, one more per crash; found by the fleet fault run
// (test/kafka/fleet-faults.test.ts). The next start of any process on the data dir removes them.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime } from '../../src/pipeline/runtime.js';
import { removeStaleSpoolDirs, spoolDirName } from '../../src/pipeline/spool-dirs.js';
import { silentLogger, testConfig } from '../support/context.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let dir: string;
let database: TestDatabase;
let deadPid: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fileset-spool-dirs-'));
  database = await createTestDatabase();
  // A pid that existed and is gone: a process that has exited.
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  deadPid = child.pid!;
});

afterAll(async () => {
  await database?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function leftBehind(root: string, name: string): Promise<void> {
  await mkdir(join(root, name), { recursive: true });
  await writeFile(join(root, name, 'body-1'), 'half a spooled body');
}

describe('spool directories of processes that are gone', () => {
  it('are removed; those of live processes and of other hosts stay', async () => {
    const root = join(dir, 'unit');
    const dead = spoolDirName(hostname(), deadPid);
    const live = spoolDirName(hostname(), process.ppid);
    const otherHost = spoolDirName(`not-${hostname()}`, deadPid);
    for (const name of [dead, live, otherHost, 'unrelated']) await leftBehind(root, name);
    expect(await removeStaleSpoolDirs(root, silentLogger)).toEqual([dead]);
    expect((await readdir(root)).sort()).toEqual([live, otherHost, 'unrelated'].sort());
  });

  it('a missing tmp directory is nothing to clean', async () => {
    expect(await removeStaleSpoolDirs(join(dir, 'none'), silentLogger)).toEqual([]);
  });

  it('opening the runtime removes a killed process spool directory and makes its own; closing removes its own', async () => {
    const dataDir = join(dir, 'runtime');
    const dead = spoolDirName(hostname(), deadPid);
    await leftBehind(join(dataDir, 'tmp'), dead);
    const runtime = await openRuntime(
      testConfig('http://127.0.0.1:9', { FILESET_DATA_DIR: dataDir, FILESET_DATABASE_URL: database.url }),
      silentLogger,
    );
    try {
      expect(await readdir(join(dataDir, 'tmp'))).toEqual([spoolDirName()]);
    } finally {
      await runtime.close();
    }
    expect(await readdir(join(dataDir, 'tmp'))).toEqual([]);
  });
});

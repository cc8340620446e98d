// A whole pipeline runtime for tests: temp data dir, a fresh PostgreSQL database, a fixture server.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/config.js';
import { openRuntime, type Runtime } from '../../src/pipeline/runtime.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { silentLogger, testConfig } from './context.js';
import { expectValidWarc } from './jwarc.js';

export interface TestRuntime extends Runtime {
  config: Config;
  dataDir: string;
  /** Closes the runtime (WARCs are renamed from .open) and checks every WARC with jwarc. */
  closeAndValidate(): Promise<string[]>;
  dispose(): Promise<void>;
}

export async function testRuntime(
  origin: string,
  env: Record<string, string> = {},
  rewritten?: string[],
): Promise<TestRuntime> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fileset-test-'));
  const database: TestDatabase = await createTestDatabase();
  const config = testConfig(
    origin,
    { FILESET_DATA_DIR: dataDir, FILESET_DATABASE_URL: database.url, ...env },
    rewritten,
  );
  // Retries wait milliseconds, not the production half second: what they do is tested, not how long.
  const runtime = await openRuntime(config, silentLogger, { httpRetryBaseDelayMs: 5 });
  let closed = false;
  const close = async () => {
    if (!closed) await runtime.close();
    closed = true;
  };
  return {
    ...runtime,
    config,
    dataDir,
    close,
    async closeAndValidate() {
      await close();
      const warcs = await warcFiles(runtime.warcDir);
      for (const warc of warcs) await expectValidWarc(join(runtime.warcDir, warc));
      return warcs;
    },
    async dispose() {
      await close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function warcFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.warc.gz')).sort();
}

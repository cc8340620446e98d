// A StrategyContext for the archiveorg-* strategies (fs item store and working directory in a temp
// dir, a fixed clock) and file routes that honour Range and can drop a connection mid-file.
import { WorkBudget } from '../../src/strategies/work-budget.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Config } from '../../src/config.js';
import { HttpClient } from '../../src/http/client.js';
import { zenodo } from '../../src/platforms/zenodo.js';
import type { PlatformItem } from '../../src/platforms/types.js';
import { createFsItemStore } from '../../src/stores/items/fs.js';
import type { ItemStore } from '../../src/stores/items/types.js';
import type { StrategyContext } from '../../src/strategies/types.js';
import { silentLogger, testConfig, testHttp } from './context.js';
import type { FixtureServer, Route } from './fixture-server.js';
import { recordFiles, serveZenodoRecord } from './zenodo-site.js';

/** Stands in for the WARC store and capture index, which the item strategies must never touch. */
function untouchable<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get(_target, property) {
      if (property === 'then') return undefined; // not a thenable
      throw new Error(`the archiveorg strategies touched the ${name} (${String(property)})`);
    },
  });
}

export interface ItemHarness {
  ctx: StrategyContext;
  config: Config;
  dir: string;
  items: ItemStore;
  workDir: string;
  /** The clock of the context and of the fs store. */
  clock: { now: Date };
  dispose(): Promise<void>;
}

export async function itemHarness(
  origin: string,
  options: {
    env?: Record<string, string>;
    wrap?: (store: ItemStore) => ItemStore;
    forceRecrawl?: boolean;
    /** Replaces the HTTP client's timer (its retries' waits). */
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<ItemHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'archiveorg-strategy-'));
  const config = testConfig(origin, { FILESET_DATA_DIR: dir, ...options.env }, ['https://zenodo.org']);
  const clock = { now: new Date('2026-03-01T12:00:00Z') };
  const now = () => clock.now;
  const fsStore = createFsItemStore({ root: join(dir, 'items'), logger: silentLogger, now });
  const items = options.wrap ? options.wrap(fsStore) : fsStore;
  const http = options.sleep
    ? new HttpClient({ config, logger: silentLogger, retryBaseDelayMs: 1, sleep: options.sleep })
    : testHttp(config);
  const workDir = join(dir, 'work');
  const ctx: StrategyContext = {
    config,
    logger: silentLogger,
    http,
    capture: untouchable('WARC store'),
    index: untouchable('capture index'),
    request: {
      base_url: 'https://zenodo.org/records/7078760',
      ...(options.forceRecrawl ? { force_recrawl: true } : {}),
    },
    items,
    workDir,
    workBudget: new WorkBudget(config.items.workDirBudget),
    now,
  };
  return {
    ctx,
    config,
    dir,
    items,
    workDir,
    clock,
    async dispose() {
      await http.close();
      await fsStore.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The store with some methods replaced (the others still run on the store itself). */
export function overrideStore(store: ItemStore, overrides: Partial<ItemStore>): ItemStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const own = (overrides as Record<string | symbol, unknown>)[property];
      if (own !== undefined) return own;
      const value = Reflect.get(target, property, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** Resolves once the file at `path` holds at least `size` bytes (polled: it is being written by another task). */
export async function sizeReached(path: string, size: number): Promise<void> {
  for (;;) {
    const now = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (now >= size) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Every file under `dir`, relative and sorted (empty when `dir` does not exist). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

export interface ServedFile extends Route {
  /** The Range header of every request (undefined: none). */
  ranges: Array<string | undefined>;
  bytes: Buffer;
}

export interface ServeOptions {
  /** On the first response only (`drops` responses), send this many bytes of the body, then cut the connection. */
  dropAfter?: number;
  /** How many responses `dropAfter` cuts (default 1). */
  drops?: number;
  /** Cut only once this resolves (e.g. when the client has written those bytes to disk). */
  beforeDrop?: () => Promise<void>;
  /** Answer every request with 200 and the whole file. */
  ignoreRange?: boolean;
  contentType?: string;
}

/** A file route that answers `Range: bytes=N-` with 206 (unless `ignoreRange`), and can drop the connection once. */
export function servedFile(bytes: Buffer, options: ServeOptions = {}): ServedFile {
  let drops = options.dropAfter === undefined ? 0 : (options.drops ?? 1);
  const served: ServedFile = {
    bytes,
    ranges: [],
    handler(req: IncomingMessage, res: ServerResponse) {
      const range = req.headers.range;
      served.ranges.push(range);
      const m = options.ignoreRange ? null : /^bytes=(\d+)-$/.exec(range ?? '');
      const start = m ? Number(m[1]) : 0;
      if (m && start >= served.bytes.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${served.bytes.length}`, 'Content-Length': '0' });
        res.end();
        return;
      }
      const body = served.bytes.subarray(start);
      res.writeHead(m ? 206 : 200, {
        'Content-Type': options.contentType ?? 'application/octet-stream',
        'Content-Length': String(body.length),
        ...(m ? { 'Content-Range': `bytes ${start}-${served.bytes.length - 1}/${served.bytes.length}` } : {}),
      });
      if (drops > 0) {
        const cut = options.dropAfter!;
        drops -= 1;
        res.write(
          body.subarray(0, cut),
          () => void (options.beforeDrop?.() ?? Promise.resolve()).then(() => res.socket?.destroy()),
        );
        return;
      }
      res.end(body);
    },
  };
  return served;
}

export const RECORD = '7078760';
export const KEYS = ['data2.csv', 'data.csv', 'datapackage.json'] as const;
export type Key = (typeof KEYS)[number];

/**
 * Serves the recorded Zenodo record 7078760 (API JSON) with the real bytes of its three files on
 * Range-aware routes, and returns the platform item the zenodo helper makes of it.
 */
export async function zenodoItem(
  server: FixtureServer,
  config: Config,
  fileOptions: Partial<Record<Key, ServeOptions>> = {},
): Promise<{ item: PlatformItem; files: Record<Key, ServedFile>; downloads: Record<Key, string> }> {
  const { downloads } = serveZenodoRecord(server, `zenodo_record_${RECORD}.json`);
  const bytes = recordFiles(RECORD, [...KEYS]);
  const files = {} as Record<Key, ServedFile>;
  for (const key of KEYS) {
    files[key] = servedFile(bytes[key]!, fileOptions[key]);
    server.route(downloads[key]!, files[key]);
  }
  const http = testHttp(config);
  try {
    const url = `https://zenodo.org/records/${RECORD}`;
    const item = await zenodo.processRequest({ base_url: url, url }, null, { config, logger: silentLogger, http });
    return { item, files, downloads: downloads as Record<Key, string> };
  } finally {
    await http.close();
  }
}

// Opening the configured item store: FILESET_ITEM_STORE=fs:///path | s3://bucket[/prefix] | ias3://
import { join, resolve } from 'node:path';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createFsItemStore } from './fs.js';
import { createIas3ItemStore } from './ias3.js';
import { createS3ItemStore } from './s3.js';
import type { ItemStore } from './types.js';

export type ItemStoreLocation =
  | { kind: 'fs'; root: string }
  | { kind: 's3'; bucket: string; prefix: string }
  | { kind: 'ias3' };

/** Where FILESET_ITEM_STORE points; unset means `fs` under the data directory. */
export function itemStoreLocation(config: Config): ItemStoreLocation {
  const text = config.items.store;
  if (!text) return { kind: 'fs', root: resolve(join(config.dataDir, 'items')) };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`FILESET_ITEM_STORE: "${text}" is not fs:///path, s3://bucket[/prefix] or ias3://`);
  }
  switch (url.protocol) {
    case 'fs:': {
      const path = decodeURIComponent(`${url.host ? `${url.host}` : ''}${url.pathname}`);
      if (!path) throw new Error(`FILESET_ITEM_STORE: "${text}" names no directory`);
      return { kind: 'fs', root: resolve(path) };
    }
    case 's3:':
      if (!url.hostname) throw new Error(`FILESET_ITEM_STORE: "${text}" names no bucket`);
      return { kind: 's3', bucket: url.hostname, prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '') };
    case 'ias3:':
      return { kind: 'ias3' };
    default:
      throw new Error(`FILESET_ITEM_STORE: unknown scheme "${url.protocol}" (fs:, s3: or ias3:)`);
  }
}

export function openItemStore(config: Config, logger: Logger): ItemStore {
  const location = itemStoreLocation(config);
  const log = logger.child({ module: 'items', store: location.kind });
  switch (location.kind) {
    case 'fs':
      return createFsItemStore({ root: location.root, logger: log });
    case 's3':
      return createS3ItemStore({ bucket: location.bucket, prefix: location.prefix, s3: config.s3, logger: log });
    case 'ias3':
      return createIas3ItemStore({ ias3: config.ias3, logger: log, userAgent: config.userAgent, retries: config.http.retries });
  }
}

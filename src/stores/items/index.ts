// Opening the configured item store (FILESET_ITEM_STORE, parsed in config.ts): the backend it
// names, behind the item layer that checks names and keeps notes for every backend.
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createFsItemStore } from './fs.js';
import { createIas3ItemStore } from './ias3.js';
import type { ItemStore } from './types.js';

export async function openItemStore(config: Config, logger: Logger): Promise<ItemStore> {
  const location = config.items.store;
  const log = logger.child({ module: 'items', store: location.kind });
  switch (location.kind) {
    case 'fs':
      return createFsItemStore({ root: location.root, logger: log });
    case 's3': {
      // The AWS SDK is a large share of a process's start-up: loaded only when an s3 store is configured.
      const { createS3ItemStore } = await import('./s3.js');
      return createS3ItemStore({ bucket: location.bucket, prefix: location.prefix, s3: config.s3, logger: log });
    }
    case 'ias3':
      return createIas3ItemStore({
        ias3: config.ias3,
        logger: log,
        userAgent: config.userAgent,
        retries: config.http.retries,
      });
  }
}

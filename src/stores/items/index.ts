// Opening the configured item store (FILESET_ITEM_STORE, parsed in config.ts): the backend it
// names, behind the item layer that checks names and keeps notes for every backend.
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createFsItemStore } from './fs.js';
import { createIas3ItemStore } from './ias3.js';
import { createS3ItemStore } from './s3.js';
import { checkBucket } from './s3-client.js';
import type { ItemStore } from './types.js';

/** A worker's start-up check that its item store answers (S3: the bucket); the others need none. */
export async function checkItemStore(config: Config, logger: Logger): Promise<void> {
  const location = config.items.store;
  if (location.kind === 's3') await checkBucket(config.s3, location.bucket, logger.child({ module: 'items' }));
}

export function openItemStore(config: Config, logger: Logger): ItemStore {
  const location = config.items.store;
  const log = logger.child({ module: 'items', store: location.kind });
  switch (location.kind) {
    case 'fs':
      return createFsItemStore({ root: location.root, logger: log });
    case 's3':
      return createS3ItemStore({ bucket: location.bucket, prefix: location.prefix, s3: config.s3, logger: log });
    case 'ias3':
      return createIas3ItemStore({
        ias3: config.ias3,
        logger: log,
        userAgent: config.userAgent,
        retries: config.http.retries,
      });
  }
}

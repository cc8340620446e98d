// Opening the configured item store (FILESET_ITEM_STORE, parsed in config.ts): the backend it
// names, behind the item layer that checks names and keeps notes for every backend.
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { createFsItemStore } from './fs.js';
import { createIas3ItemStore } from './ias3.js';
import type { ItemStore } from './types.js';

/** A worker's start-up check that its item store answers (S3: the bucket); the others need none. */
export async function checkItemStore(config: Config, logger: Logger): Promise<void> {
  const location = config.items.store;
  if (location.kind !== 's3') return;
  // Loaded only for an s3 store, as openItemStore loads the AWS SDK.
  const { checkBucket } = await import('./s3-client.js');
  await checkBucket(config.s3, location.bucket, logger.child({ module: 'items' }));
}

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

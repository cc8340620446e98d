// archiveorg-fileset: a large or many-file dataset put into an item of the item store.
import { archiveItemFiles, checkExistingInItem, itemNote } from './item-archiving.js';
import type { ArchiveStrategy } from './types.js';
import { summarise } from './outcomes.js';

export const archiveorgFileset: ArchiveStrategy = {
  name: 'archiveorg-fileset',

  checkExisting(item, ctx) {
    return checkExistingInItem(item, ctx, 'archiveorg-fileset');
  },

  async process(item, ctx) {
    const outcomes = await archiveItemFiles(item, ctx);
    const { status, errorMessage } = summarise(outcomes, 'success');
    return {
      status,
      manifest: outcomes.map((o) => o.entry),
      ...(errorMessage ? { errorMessage } : {}),
      note: itemNote('archiveorg-fileset', outcomes),
    };
  },
};

// archiveorg-file: a one-file dataset too large for the web backend, put into an item of the item
// store. Its success is `success-file` with `fileset_file` (sandcrawler labelled it fileset).
import { archiveItemFiles, existingInItem, itemNote } from './item-archiving.js';
import type { ArchiveStrategy } from './types.js';
import { summarise } from './outcomes.js';

export const archiveorgFile: ArchiveStrategy = {
  name: 'archiveorg-file',

  async checkExisting(item, ctx) {
    if (item.manifest.length !== 1) return null;
    const outcomes = await existingInItem(item, ctx);
    const capture = outcomes?.[0]?.capture;
    if (!outcomes || !capture) return null;
    return {
      status: 'success-existing',
      manifest: [outcomes[0]!.entry],
      filesetFile: capture,
      note: itemNote('archiveorg-file', outcomes),
    };
  },

  async process(item, ctx) {
    const outcomes = await archiveItemFiles(item, ctx);
    const { status, errorMessage } = summarise(outcomes, 'success-file');
    const capture = outcomes.length === 1 ? outcomes[0]!.capture : undefined;
    return {
      status,
      manifest: outcomes.map((o) => o.entry),
      ...(errorMessage ? { errorMessage } : {}),
      ...(capture ? { filesetFile: capture } : {}),
      note: itemNote('archiveorg-file', outcomes),
    };
  },
};

// web-fileset: every file of a small dataset captured into the WARC store.
import { isSafeItemPath } from '../stores/items/types.js';
import type { ArchiveStrategy } from './types.js';
import { summarise } from './outcomes.js';
import { archiveFiles, findExistingAll } from './warc-archiving.js';

export const webFileset: ArchiveStrategy = {
  name: 'web-fileset',

  async checkExisting(item, ctx) {
    const open = item.manifest.filter((f) => !f.restricted);
    if (!open.length || open.length !== item.manifest.length || !open.every((f) => isSafeItemPath(f.path))) return null;
    const found = await findExistingAll(open, ctx);
    if (!found.every((f) => f !== null)) return null;
    return { status: 'success-existing', manifest: found.map((f) => f.entry) };
  },

  async process(item, ctx) {
    const outcomes = await archiveFiles(item, ctx);
    const { status, errorMessage } = summarise(outcomes, 'success');
    return { status, manifest: outcomes.map((o) => o.entry), ...(errorMessage ? { errorMessage } : {}) };
  },
};

// web-file: a one-file dataset captured into the WARC store; also yields a dataset-file result.
import type { ArchiveStrategy } from './types.js';
import { summarise } from './outcomes.js';
import { archiveFiles, findExisting } from './warc-archiving.js';

export const webFile: ArchiveStrategy = {
  name: 'web-file',

  async checkExisting(item, ctx) {
    const [file] = item.manifest;
    if (item.manifest.length !== 1 || !file || file.prefetched) return null;
    const existing = await findExisting(file, ctx);
    if (!existing) return null;
    return {
      status: 'success-existing',
      manifest: [existing.entry],
      ...(existing.capture ? { filesetFile: existing.capture } : {}),
    };
  },

  async process(item, ctx) {
    const outcomes = await archiveFiles(item, ctx);
    const { status, errorMessage } = summarise(outcomes, 'success-file');
    const capture = outcomes[0]?.capture;
    return {
      status,
      manifest: outcomes.map((o) => o.entry),
      ...(errorMessage ? { errorMessage } : {}),
      ...(capture ? { filesetFile: capture } : {}),
    };
  },
};

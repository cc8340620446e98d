// InvenioRDM file entries, shared by zenodo.ts (Zenodo runs InvenioRDM) and inveniordm.ts (any
// other installation): one parser for the record's `files[]` and the `/api/records/<id>/files`
// listing, in every shape Zenodo has served (legacy, Oct-2023 transitional, current).
import { z } from 'zod';
import { PlatformError } from '../errors.js';
import type { PlatformFile } from './types.js';

// A file in GET /api/records/<id> (`files[]`) or in GET /api/records/<id>/files (`entries[]`).
export const InvenioFile = z.object({
  id: z.string().optional(),
  file_id: z.string().optional(),
  key: z.string().optional(), //           legacy and current
  filename: z.string().optional(), //      Oct-2023 transitional
  size: z.number().int().nonnegative().optional(),
  filesize: z.number().int().nonnegative().optional(),
  checksum: z.string().optional(), //      "md5:<hex>" or bare hex (transitional)
  type: z.string().optional(),
  mimetype: z.string().optional(),
  status: z.string().optional(), //        listing: "completed" once the upload finished
  links: z.object({
    self: z.string().optional(),
    content: z.string().optional(),
    download: z.string().optional(),
  }),
});

export type InvenioFile = z.infer<typeof InvenioFile>;

// GET /api/records/<id>/files
export const InvenioFileListing = z.object({
  enabled: z.boolean().optional(),
  entries: z.array(InvenioFile),
});

/** "md5:<hex>" or a bare md5; other algorithms are not ones we can verify by name. */
export function parseChecksum(checksum: string | undefined): { md5?: string } {
  if (!checksum) return {};
  const [algo, value] = checksum.includes(':') ? checksum.split(':', 2) : ['md5', checksum];
  return algo?.toLowerCase() === 'md5' && value && /^[0-9a-f]{32}$/i.test(value) ? { md5: value.toLowerCase() } : {};
}

/** The manifest of file entries; `field` names where they sat, for a changed-shape message. */
export function invenioManifest(files: InvenioFile[], what: string, field: string): PlatformFile[] {
  return files.map((file, index) => {
    const path = file.key ?? file.filename;
    const size = file.size ?? file.filesize;
    const url = file.links.content ?? file.links.download ?? file.links.self;
    if (!path || size === undefined || !url) {
      const missing = !path ? 'key' : size === undefined ? 'size' : 'links.content';
      throw new PlatformError(`${what}: unexpected response shape at "${field}.${index}.${missing}": missing`);
    }
    const id = file.id ?? file.file_id;
    return {
      path,
      size,
      ...parseChecksum(file.checksum),
      ...(file.mimetype ? { mimetype: file.mimetype } : {}),
      platform_url: url,
      extra: { ...(id ? { file_id: id } : {}), ...(file.type ? { type: file.type } : {}) },
    };
  });
}

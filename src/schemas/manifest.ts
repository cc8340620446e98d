// One file of a dataset, as the platform described it and as we archived it.
import { z } from 'zod';
import { FILE_STATUSES } from './statuses.js';

export const ManifestEntrySchema = z.object({
  path: z.string(),
  size: z.number().int().nonnegative().nullish(),
  md5: z.string().nullish(),
  sha1: z.string().nullish(),
  sha256: z.string().nullish(),
  mimetype: z.string().nullish(),
  extra: z.record(z.string(), z.unknown()).nullish(),
  status: z.enum(FILE_STATUSES).nullish(),
  platform_url: z.string().nullish(),
  terminal_url: z.string().nullish(),
  terminal_dt: z.string().nullish(),
});

export type ManifestEntry = z.infer<typeof ManifestEntrySchema>;

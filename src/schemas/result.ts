// The fileset result and the dataset-file result (sandcrawler-compatible field names).
import { z } from 'zod';
import { ManifestEntrySchema } from './manifest.js';
import { STATUSES } from './statuses.js';

export const FileMetaSchema = z.object({
  size_bytes: z.number().int().nonnegative(),
  sha1hex: z.string(),
  sha256hex: z.string(),
  md5hex: z.string(),
  mimetype: z.string(),
});
export type FileMeta = z.infer<typeof FileMetaSchema>;

export const TerminalSchema = z.object({
  terminal_url: z.string(),
  terminal_dt: z.string().regex(/^\d{14}$/),
  terminal_status_code: z.number().int(),
  terminal_sha1hex: z.string().nullish(),
});
export type Terminal = z.infer<typeof TerminalSchema>;

export const CdxSchema = z.object({
  surt: z.string(),
  datetime: z.string().regex(/^\d{14}$/),
  url: z.string(),
  mimetype: z.string().nullish(),
  status_code: z.number().int().nullish(),
  sha1b32: z.string(),
  sha1hex: z.string(),
  warc_path: z.string(),
  warc_offset: z.number().int().nonnegative(),
  warc_csize: z.number().int().positive(),
});
export type Cdx = z.infer<typeof CdxSchema>;

/** What one archived web capture contributes to a result (`fileset_file`, a dataset-file result). */
export const CaptureResultSchema = z.object({
  file_meta: FileMetaSchema.nullish(),
  terminal: TerminalSchema.nullish(),
  cdx: CdxSchema.nullish(),
  revisit_cdx: CdxSchema.nullish(),
});
export type CaptureResult = z.infer<typeof CaptureResultSchema>;

export const FilesetBundleSchema = CaptureResultSchema.extend({
  archiveorg_bundle_path: z.string().nullish(),
});

export const FilesetResultSchema = z.object({
  hit: z.boolean(),
  status: z.enum(STATUSES),
  request: z.record(z.string(), z.unknown()),
  error_message: z.string().max(1600).nullish(),
  hops: z.array(z.string()).nullish(),
  terminal: TerminalSchema.nullish(),
  file_meta: FileMetaSchema.nullish(),
  cdx: CdxSchema.nullish(),
  revisit_cdx: CdxSchema.nullish(),
  html_biblio: z.record(z.string(), z.unknown()).nullish(),
  platform_name: z.string().nullish(),
  platform_domain: z.string().nullish(),
  platform_id: z.string().nullish(),
  platform_base_url: z.string().nullish(),
  platform_bundle_url: z.string().nullish(),
  // Captures in our WARCs of the landing page and of the bundle (Wayback URL parts, read by fatcat).
  web_base_url: z.string().nullish(),
  web_base_url_dt: z
    .string()
    .regex(/^\d{14}$/)
    .nullish(),
  web_bundle_url: z.string().nullish(),
  web_bundle_url_dt: z
    .string()
    .regex(/^\d{14}$/)
    .nullish(),
  archiveorg_item_name: z.string().nullish(),
  manifest: z.array(ManifestEntrySchema).nullish(),
  file_count: z.number().int().nonnegative().nullish(),
  total_size: z.number().int().nonnegative().nullish(),
  ingest_strategy: z.string().nullish(),
  fileset_bundle: FilesetBundleSchema.nullish(),
  fileset_file: CaptureResultSchema.nullish(),
});
export type FilesetResult = z.infer<typeof FilesetResultSchema>;

export const DatasetFileResultSchema = CaptureResultSchema.extend({
  hit: z.literal(true),
  status: z.literal('success'),
  request: z.record(z.string(), z.unknown()),
});
export type DatasetFileResult = z.infer<typeof DatasetFileResultSchema>;

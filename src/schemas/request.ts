// The ingest request (sandcrawler's wire format); unknown fields are kept and echoed back.
import { z } from 'zod';

export const IngestRequestSchema = z.looseObject({
  base_url: z.string().min(1, 'base_url must not be empty'),
  ingest_type: z.string().optional(),
  link_source: z.string().optional(),
  link_source_id: z.string().optional(),
  ingest_request_source: z.string().optional(),
  release_stage: z.string().nullish(),
  ext_ids: z.record(z.string(), z.unknown()).nullish(),
  fatcat: z.looseObject({ release_ident: z.string().nullish(), work_ident: z.string().nullish() }).nullish(),
  force_recrawl: z.boolean().optional(),
  edit_extra: z.record(z.string(), z.unknown()).nullish(),
  rel: z.string().nullish(),
});

export type IngestRequest = z.infer<typeof IngestRequestSchema>;

/** The request, or why it is not one, naming the field (`request.base_url: ...`). */
export function parseRequest(value: unknown): { request: IngestRequest } | { problem: string } {
  const parsed = IngestRequestSchema.safeParse(value);
  if (parsed.success) return { request: parsed.data };
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length ? `request.${issue.path.join('.')}` : 'request';
  return { problem: `${field}: ${issue.message}` };
}

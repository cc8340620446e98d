// The ingest request (sandcrawler's wire format); unknown fields are kept and echoed back.
// Every field has a bound, checked here before any network or database work: a request beyond one
// is a `bad-request`, not a 10 MB URL fetched and then refused by the database's index.
import { z } from 'zod';

/** Longest `base_url`, in UTF-8 bytes (8 KiB: far beyond any real landing page or DOI URL). */
export const MAX_BASE_URL_BYTES = 8 * 1024;
/** Longest value of any other string field of a request, in UTF-8 bytes. */
export const MAX_FIELD_BYTES = 1024;
/** Largest whole request as JSON, unknown fields included (they are echoed into every result). */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Deepest nesting of objects and arrays in a request. */
const MAX_DEPTH = 32;

/** The ingest types this worker answers; any other is `skip-ingest-type` (it belongs to another worker). */
export const FILESET_INGEST_TYPES: readonly string[] = ['dataset'];

const text = (max: number) =>
  z
    .string()
    .refine((s) => Buffer.byteLength(s) <= max, `longer than ${max} bytes`)
    .refine((s) => !s.includes('\0'), 'contains a NUL character');

export const IngestRequestSchema = z
  .looseObject({
    base_url: text(MAX_BASE_URL_BYTES).pipe(z.string().min(1, 'base_url must not be empty')),
    ingest_type: text(MAX_FIELD_BYTES).optional(),
    link_source: text(MAX_FIELD_BYTES).optional(),
    link_source_id: text(MAX_FIELD_BYTES).optional(),
    ingest_request_source: text(MAX_FIELD_BYTES).optional(),
    release_stage: text(MAX_FIELD_BYTES).nullish(),
    ext_ids: z.record(z.string(), z.unknown()).nullish(),
    fatcat: z
      .looseObject({ release_ident: text(MAX_FIELD_BYTES).nullish(), work_ident: text(MAX_FIELD_BYTES).nullish() })
      .nullish(),
    force_recrawl: z.boolean().optional(),
    edit_extra: z.record(z.string(), z.unknown()).nullish(),
    rel: text(MAX_FIELD_BYTES).nullish(),
  })
  .superRefine((request, ctx) => {
    const problem = findOversize(request);
    if (problem) ctx.addIssue({ code: 'custom', ...problem });
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

/** Whether this worker answers requests of this type (none given means a dataset). */
export function isFilesetIngestType(ingestType: string | undefined): boolean {
  return ingestType === undefined || FILESET_INGEST_TYPES.includes(ingestType);
}

/**
 * A refused request as it is echoed in its result: strings clipped to their bound, so a 10 MB
 * field is not copied into results, logs and messages.
 */
export function boundedEcho(value: Record<string, unknown>): Record<string, unknown> {
  const clipped = clipStrings(value, MAX_FIELD_BYTES) as Record<string, unknown>;
  if (typeof value.base_url === 'string') clipped.base_url = clip(value.base_url, MAX_BASE_URL_BYTES);
  if (Buffer.byteLength(JSON.stringify(clipped)) <= MAX_REQUEST_BYTES) return clipped;
  const known: Record<string, unknown> = {};
  for (const key of Object.keys(IngestRequestSchema.shape)) {
    const field = clipped[key];
    if (field !== undefined && (typeof field !== 'object' || field === null)) known[key] = field;
  }
  return known;
}

function clip(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  // Cut on a character boundary: a UTF-8 prefix of maxBytes, decoded, may end in a partial character.
  return Buffer.from(s)
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

function clipStrings(value: unknown, maxBytes: number, depth = 0): unknown {
  if (typeof value === 'string') return clip(value, maxBytes);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => clipStrings(v, maxBytes, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [clip(k, maxBytes), clipStrings(v, maxBytes, depth + 1)]),
  );
}

/**
 * What makes a request too big to carry through results and tables: a NUL anywhere (PostgreSQL's
 * text and jsonb refuse it), nesting deeper than MAX_DEPTH, or more than MAX_REQUEST_BYTES in all.
 * Walks without recursion, so no input can exhaust the stack.
 */
function findOversize(request: unknown): { path: PropertyKey[]; message: string } | null {
  const stack: Array<{ value: unknown; path: PropertyKey[] }> = [{ value: request, path: [] }];
  let bytes = 0;
  while (stack.length) {
    const { value, path } = stack.pop()!;
    bytes += 8;
    if (typeof value === 'string') {
      if (value.includes('\0')) return { path, message: 'contains a NUL character' };
      bytes += Buffer.byteLength(value);
    } else if (typeof value === 'object' && value !== null) {
      if (path.length > MAX_DEPTH) return { path, message: `nested deeper than ${MAX_DEPTH} levels` };
      for (const [key, child] of Object.entries(value)) {
        if (key.includes('\0')) return { path: [...path, key], message: 'contains a NUL character' };
        bytes += Buffer.byteLength(key);
        stack.push({ value: child, path: [...path, Array.isArray(value) ? Number(key) : key] });
      }
    }
    if (bytes > MAX_REQUEST_BYTES) return { path: [], message: `larger than ${MAX_REQUEST_BYTES} bytes` };
  }
  return null;
}

// The S3 client the s3 item store uses, and what its failures mean: a store that cannot be
// reached is an InfrastructureError (retry later), a refused write an ItemUploadError.
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../config.js';
import { InfrastructureError, IngestError, ItemUploadError, ServiceUnavailableError } from '../../errors.js';
import { redactUrl, type Logger } from '../../logger.js';

/** Error codes that mean "try again later", whatever their HTTP status. */
const TRANSIENT_CODES = new Set([
  'RequestTimeout',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'InternalError',
  'ServiceUnavailable',
]);

export function s3Client(s3: Config['s3'], log: Logger): S3Client {
  const sdkWarning = (...args: unknown[]) =>
    log.warn({ sdk: args.filter((a) => typeof a === 'string').join(' ') }, 'aws sdk warning');
  return new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: s3.forcePathStyle,
    credentials:
      s3.accessKeyId && s3.secretAccessKey
        ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }
        : undefined,
    // Checksums only where S3 requires them: many S3-compatible stores refuse the SDK's default
    // aws-chunked CRC trailers. The bytes are checked by Content-MD5 (whole) or our sha1 (parts).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: 15_000, requestTimeout: 120_000 },
    // The SDK's own request logging would carry inputs; only its warnings are kept (as text).
    logger: { trace: () => {}, debug: () => {}, info: () => {}, warn: sdkWarning, error: sdkWarning },
  });
}

/** How long the start-up check waits for the store's answer. */
export const STORE_CHECK_MS = 10_000;

/**
 * Start-up check of a worker whose item store is S3: the bucket answers (HEAD) within
 * STORE_CHECK_MS, or one ServiceUnavailableError names the store, its endpoint and bucket, and the
 * variable. A bucket that does not exist or refuses our keys says so the same way.
 */
export async function checkBucket(s3: Config['s3'], bucket: string, log: Logger): Promise<void> {
  const client = s3Client(s3, log);
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.timeout(STORE_CHECK_MS) });
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    const reason =
      status === 404
        ? 'no such bucket'
        : status === 403
          ? 'access denied (FILESET_S3_ACCESS_KEY_ID, FILESET_S3_SECRET_ACCESS_KEY)'
          : e.name === 'TimeoutError' || e.name === 'AbortError'
            ? `no answer within ${STORE_CHECK_MS / 1000} s`
            : status
              ? `HTTP ${status}`
              : describeS3Error(err);
    const where = `${s3.endpoint ? redactUrl(s3.endpoint) : 'AWS'} bucket ${bucket}`;
    const variable = s3.endpoint ? 'FILESET_S3_ENDPOINT, FILESET_ITEM_STORE' : 'FILESET_ITEM_STORE';
    throw new ServiceUnavailableError('the S3 item store', where, variable, reason, { cause: err });
  } finally {
    client.destroy();
  }
}

export type Failure = 'missing' | 'taken' | 'refused' | 'transient' | 'other';

/** What a failed S3 call means: `other` is not the store's answer (ours to rethrow as it is). */
export function classify(err: unknown): Failure {
  if (err instanceof IngestError || err instanceof InfrastructureError || !(err instanceof Error)) return 'other';
  const e = err as Error & { Code?: string; code?: string; path?: unknown; $metadata?: { httpStatusCode?: number } };
  // An abort (ours: a deadline or a stop) is never the store's answer.
  if (err instanceof DOMException || e.name === 'AbortError' || typeof e.path === 'string') return 'other';
  const status = e.$metadata?.httpStatusCode;
  const code = e.Code ?? e.name;
  if (status === undefined) {
    // No HTTP answer: a connection failure or a timeout, unless it is not the SDK's error at all.
    const network = e.$metadata !== undefined || /^E[A-Z_]+$/.test(e.code ?? '') || e.name === 'TimeoutError';
    return network ? 'transient' : 'other';
  }
  if (status >= 500 || status === 429 || status === 408 || TRANSIENT_CODES.has(code)) return 'transient';
  if (code === 'NoSuchKey' || code === 'NotFound') return 'missing';
  if (status === 412 || code === 'ConditionalRequestConflict') return 'taken';
  return 'refused';
}

/**
 * The error a store call throws: trouble reaching the store is an InfrastructureError (retry
 * later); a refused write is an ItemUploadError (error-archiveorg-upload). A refused read means
 * the store is misconfigured (bucket, credentials): ours to fix, so infrastructure too.
 */
export function storeError(err: unknown, action: 'read' | 'write', what: string): unknown {
  const failure = classify(err);
  if (failure === 'other') return err;
  const message = `s3 ${what}: ${describeS3Error(err)}`;
  if (failure === 'transient')
    return new InfrastructureError(`${message} (store unreachable or failing)`, { cause: err });
  if (action === 'write') return new ItemUploadError(message, { cause: err });
  return new InfrastructureError(`${message} (the store refused a read: check the bucket and credentials)`, {
    cause: err,
  });
}

export function describeS3Error(err: unknown): string {
  const e = err as {
    name?: string;
    Code?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e.$metadata?.httpStatusCode;
  return `${e.Code ?? e.code ?? e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
}

// Every error class of the program. An IngestError carries a result status, one class per status;
// the pipeline turns them into results in exactly one place (src/pipeline/result.ts). The others
// are never a dataset's status: InfrastructureError is retried, TransientError is a failure worth
// another attempt inside a retry loop, ConfigError and UsageError stop the command.
import { scrubSecrets } from './redact.js';
import type { Status } from './schemas/statuses.js';

export abstract class IngestError extends Error {
  abstract readonly status: Status;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The base of the class for one status: `new PlatformScopeError(message)` always means `platform-scope`. */
function statusError<S extends Status>(status: S) {
  return class extends IngestError {
    static readonly status: S = status;
    readonly status: S = status;
  };
}

// landing page
export class InvalidUrlError extends statusError('invalid-url') {}
export class BlockedUrlError extends statusError('skip-url-blocklist') {}
export class BlockedPrivateAddressError extends statusError('blocked-private-address') {}
export class RedirectLoopError extends statusError('redirect-loop') {}
export class RedirectsExceededError extends statusError('redirects-exceeded') {}
export class BlockedCookieError extends statusError('blocked-cookie') {}
export class NetworkError extends statusError('network-error') {}
export class BodyTooLargeError extends statusError('body-too-large') {}
export class EmptyBlobError extends statusError('empty-blob') {}
export class TerminalBadStatusError extends statusError('terminal-bad-status') {}
// platform
export class NoPlatformMatchError extends statusError('no-platform-match') {}
export class PlatformScopeError extends statusError('platform-scope') {}
export class PlatformRestrictedError extends statusError('platform-restricted') {}
export class PlatformNotFoundError extends statusError('platform-404') {}
export class PlatformHttpError extends statusError('platform-http-error') {}
export class PlatformError extends statusError('platform-error') {}
export class EmptyManifestError extends statusError('empty-manifest') {}
export class TooLargeSizeError extends statusError('too-large-size') {}
export class TooManyFilesError extends statusError('too-many-files') {}
export class NoStrategyHelperError extends statusError('no-strategy-helper') {}
// strategy
/** A download that failed on the platform's side (including a body not in its declared Content-Encoding). */
export class PlatformDownloadError extends statusError('error-platform-download') {}
/** A manifest path, bundle entry or item name that cannot be stored as given. */
export class UnsafePathError extends statusError('unsafe-path') {}
/** The item store refused a file (not a connection failure). */
export class ItemUploadError extends statusError('error-archiveorg-upload') {}
// bundles
export class BundleZipBombError extends statusError('bundle-zip-bomb') {}
export class BundleEncryptedError extends statusError('bundle-encrypted') {}
export class BundleCorruptError extends statusError('bundle-corrupt') {}
// worker
export class TimeoutError extends statusError('timeout') {}

/**
 * Trouble with our own infrastructure (disk, database, store, broker). Never a dataset status:
 * the caller backs off and retries the same request.
 */
export class InfrastructureError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InfrastructureError';
  }
}

/**
 * A service we depend on (Kafka, PostgreSQL, an item store) cannot be reached or refused us: the
 * message names the service, its address and the variable that configures it.
 */
export class ServiceUnavailableError extends InfrastructureError {
  constructor(service: string, address: string, variable: string, reason: string, options?: { cause?: unknown }) {
    super(`cannot use ${service} at ${address} (${variable}): ${reason}`, options);
    this.name = 'ServiceUnavailableError';
  }
}

/** A failure worth another attempt (overload, 5xx, a dropped connection); `retryAfterMs` when the server said. */
export class TransientError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(message, options);
    this.name = 'TransientError';
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** A bad configuration value: the command stops before doing anything. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A command was called wrongly: the CLI prints the message and the command's usage, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A file named on the command line cannot be read: one line, exit status 2. */
export class InputError extends Error {
  override name = 'InputError';
}

/** A short description of any thrown value, for logs and `error_message`, with secrets (src/redact.ts) taken out. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return scrubSecrets(`${err.message}${cause}`);
  }
  return scrubSecrets(String(err));
}

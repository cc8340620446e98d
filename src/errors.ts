// Errors that carry a result status. The pipeline turns them into results in exactly one place
// (src/pipeline/result.ts); InfrastructureError is never a dataset's status: callers retry it.
import type { Status } from './schemas/statuses.js';

export class IngestError extends Error {
  readonly status: Status;
  constructor(status: Status, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.name = 'IngestError';
  }
}

function statusError(status: Status, name: string) {
  return class extends IngestError {
    constructor(message: string, options?: { cause?: unknown }) {
      super(status, message, options);
      this.name = name;
    }
  };
}

export const InvalidUrlError = statusError('invalid-url', 'InvalidUrlError');
export const BlockedUrlError = statusError('skip-url-blocklist', 'BlockedUrlError');
export const BlockedPrivateAddressError = statusError('blocked-private-address', 'BlockedPrivateAddressError');
export const RedirectLoopError = statusError('redirect-loop', 'RedirectLoopError');
export const RedirectsExceededError = statusError('redirects-exceeded', 'RedirectsExceededError');
export const BlockedCookieError = statusError('blocked-cookie', 'BlockedCookieError');
export const NetworkError = statusError('network-error', 'NetworkError');
export const BodyTooLargeError = statusError('body-too-large', 'BodyTooLargeError');
export const EmptyBlobError = statusError('empty-blob', 'EmptyBlobError');
export const TerminalBadStatusError = statusError('terminal-bad-status', 'TerminalBadStatusError');
export const NoPlatformMatchError = statusError('no-platform-match', 'NoPlatformMatchError');
export const PlatformScopeError = statusError('platform-scope', 'PlatformScopeError');
export const PlatformRestrictedError = statusError('platform-restricted', 'PlatformRestrictedError');
export const PlatformNotFoundError = statusError('platform-404', 'PlatformNotFoundError');
export const PlatformHttpError = statusError('platform-http-error', 'PlatformHttpError');
export const PlatformError = statusError('platform-error', 'PlatformError');
export const EmptyManifestError = statusError('empty-manifest', 'EmptyManifestError');
export const TooLargeSizeError = statusError('too-large-size', 'TooLargeSizeError');
export const TooManyFilesError = statusError('too-many-files', 'TooManyFilesError');
export const NoStrategyHelperError = statusError('no-strategy-helper', 'NoStrategyHelperError');
export const TimeoutError = statusError('timeout', 'TimeoutError');

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

/** A short description of any thrown value, for logs and `error_message`. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

// Every status a fileset result or a manifest entry can carry: sandcrawler's vocabulary, one list.
// The README's status table mirrors this list; test/schemas/statuses.test.ts checks that they agree.

export const STATUSES = [
  // success
  'success',
  'success-file',
  'success-existing',
  'success-partial',
  // landing page
  'skip-url-blocklist',
  'blocked-private-address',
  'invalid-url',
  'terminal-bad-status',
  'redirect-loop',
  'redirects-exceeded',
  'empty-blob',
  'body-too-large',
  'blocked-cookie',
  'network-error',
  // platform
  'no-platform-match',
  'platform-scope',
  'platform-restricted',
  'platform-404',
  'platform-http-error',
  'platform-error',
  'empty-manifest',
  'too-large-size',
  'too-many-files',
  'no-strategy-helper',
  // strategy (the first failing file decides)
  'mismatch',
  'mismatch-size',
  'mismatch-md5',
  'mismatch-sha1',
  'mismatch-sha256',
  'error-platform-download',
  'unsafe-path',
  'error-archiveorg-upload',
  'too-much-spn',
  // bundles (a platform's "download all" zip)
  'bundle-zip-bomb',
  'bundle-encrypted',
  'bundle-corrupt',
  // worker
  'timeout',
  'internal-error',
  // request shape (before any fetch)
  'bad-request',
  'skip-ingest-type',
] as const;

export type Status = (typeof STATUSES)[number];

/** Statuses a single manifest entry can carry. */
export const FILE_STATUSES = [
  'success',
  'exists',
  'mismatch',
  'mismatch-size',
  'mismatch-md5',
  'mismatch-sha1',
  'mismatch-sha256',
  'error-platform-download',
  'unsafe-path',
  'error-archiveorg-upload',
  'too-large-size',
  'platform-restricted',
  'not-processed',
] as const;

export type FileStatus = (typeof FILE_STATUSES)[number];

export function isSuccess(status: string): boolean {
  return status.startsWith('success');
}

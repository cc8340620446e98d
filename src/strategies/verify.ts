// Verifying a downloaded file against what the platform said: size, then each hash it gave.
import type { FileStatus } from '../schemas/statuses.js';
import type { FileMeta } from '../schemas/result.js';
import type { ManifestEntry } from '../schemas/manifest.js';

export interface Verdict {
  status: FileStatus;
  message?: string;
}

const CHECKS = [
  ['size', 'mismatch-size'],
  ['md5', 'mismatch-md5'],
  ['sha1', 'mismatch-sha1'],
  ['sha256', 'mismatch-sha256'],
] as const;

function actualOf(meta: FileMeta, field: (typeof CHECKS)[number][0]): string | number {
  switch (field) {
    case 'size':
      return meta.size_bytes;
    case 'md5':
      return meta.md5hex;
    case 'sha1':
      return meta.sha1hex;
    case 'sha256':
      return meta.sha256hex;
  }
}

export function verifyFile(entry: ManifestEntry, meta: FileMeta): Verdict {
  for (const [field, status] of CHECKS) {
    const expected = entry[field];
    if (expected === null || expected === undefined) continue;
    const actual = actualOf(meta, field);
    const same = typeof expected === 'string' ? expected.toLowerCase() === actual : expected === actual;
    if (!same) return { status, message: `${entry.path}: ${field} is ${actual}, platform says ${expected}` };
  }
  return { status: 'success' };
}

/** The entry with every hash and the mimetype filled in from the bytes (platform values kept). */
export function fillFromMeta<T extends ManifestEntry>(entry: T, meta: FileMeta): T {
  return {
    ...entry,
    size: entry.size ?? meta.size_bytes,
    md5: entry.md5 ?? meta.md5hex,
    sha1: entry.sha1 ?? meta.sha1hex,
    sha256: entry.sha256 ?? meta.sha256hex,
    mimetype: meta.mimetype ?? entry.mimetype,
  };
}

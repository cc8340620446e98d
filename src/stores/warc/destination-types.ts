// What a WARC destination (destination.ts) is, apart from its backends, which import it.
import type { Readable } from 'node:stream';
import type { WarcStoreLocation } from '../../config.js';

/** Size and digests (hex) of a WARC file. */
export interface WarcDigests {
  size: number;
  md5: string;
  sha1: string;
}

/** What a destination holds under a name: its size and whichever digests it can vouch for. */
export interface StoredWarc {
  size: number;
  md5?: string;
  sha1?: string;
}

export interface WarcDestination {
  readonly kind: WarcStoreLocation['kind'];
  /** The file's path outside this process, `<item or prefix>/<file>`: `cdx.warc_path`, the CDXJ filename. */
  location(name: string): string;
  /** Stores the local file under its name, replacing a partial or different copy there. */
  put(name: string, path: string, digests: WarcDigests): Promise<void>;
  /** What the destination holds under the name, or null. */
  stat(name: string): Promise<StoredWarc | null>;
  /** The bytes of a shipped file (a location as location() gives it). */
  read(location: string): Promise<Readable>;
  /** Where a location is, for people (a path or URL, never with credentials). */
  describe(location: string): string;
  close(): Promise<void>;
}

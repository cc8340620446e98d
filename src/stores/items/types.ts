// The item store: where the archiveorg-* strategies put a dataset's files, one item per dataset.
// ItemStore is what the strategies use: the item layer (item-store.ts) over one of three thin
// backends (ItemBackend: fs.ts, s3.ts, ias3.ts), all passing one contract test suite
// (test/stores/items/contract.ts). Trouble reaching the store is an InfrastructureError (the
// request is retried); a store that refuses a file is an ItemUploadError (`error-archiveorg-upload`).
import type { Readable } from 'node:stream';
import { IDENTIFIER } from '../../archiveorg-rules.js';
import { UnsafePathError } from '../../errors.js';

/** One file of an item as the store lists it. */
export interface ItemFile {
  /** The manifest path (relative, `/`-separated). */
  path: string;
  size: number;
  md5: string;
  sha1: string;
  /** null when the store does not know it (archive.org computes no sha256). */
  sha256: string | null;
  mimetype: string | null;
}

/** A verified local file to put into an item. */
export interface PutFile extends ItemFile {
  /**
   * Absolute path of the local file holding the bytes (streamed, never read whole). A backend may
   * take it by hard link (fs on the same file system): the caller may delete it afterwards, but
   * must not change it.
   */
  source: string;
}

/** One ingest's note: what was done to the item and with what result. */
export interface ItemNote {
  /** When the ingest ran; the note is named by its Unix time stamp (seconds). */
  time: Date;
  [key: string]: unknown;
}

export interface ItemStore {
  /** `fs`, `s3` or `ias3`. */
  readonly kind: string;
  /** The item's current files (empty when the item does not exist yet). */
  listFiles(item: string, signal?: AbortSignal): Promise<ItemFile[]>;
  /**
   * Stores the file at `file.path`, atomically: a reader sees the old bytes or the new, never a
   * part. A different file already at that path is kept as a previous version (where the backend
   * keeps versions); identical bytes already there are left alone.
   */
  putFile(item: string, file: PutFile, signal?: AbortSignal): Promise<void>;
  /** The bytes of a current file; throws when it does not exist. */
  readFile(item: string, path: string): Promise<Readable>;
  setMetadata(item: string, metadata: Record<string, unknown>): Promise<void>;
  /** The item metadata last set, or null. */
  getMetadata(item: string): Promise<Record<string, unknown> | null>;
  writeNote(item: string, note: ItemNote): Promise<void>;
  /** Every note of the item, oldest first. */
  listNotes(item: string): Promise<ItemNote[]>;
  /** Where a file of the item lives, for results and logs (a path or URL; never with credentials). */
  locate(item: string, path?: string): string;
  close(): Promise<void>;
}

/**
 * What a backend does below the item layer, which has already checked the item name and the path:
 * store and list files, keep metadata, and hold note documents the layer names and writes.
 */
export interface ItemBackend {
  readonly kind: string;
  listFiles(item: string, signal?: AbortSignal): Promise<ItemFile[]>;
  /**
   * Stores the file as ItemStore.putFile says. A different file it replaces is kept at
   * `previousVersion` (a path relative to the item) where the backend keeps versions itself.
   */
  putFile(item: string, file: PutFile, previousVersion: string, signal?: AbortSignal): Promise<void>;
  readFile(item: string, path: string): Promise<Readable>;
  setMetadata(item: string, metadata: Record<string, unknown>): Promise<void>;
  getMetadata(item: string): Promise<Record<string, unknown> | null>;
  /** Writes the note document `name` unless that name is taken (then false). */
  createNote(item: string, name: string, body: Buffer): Promise<boolean>;
  /** The names of the item's note documents, in any order. */
  noteNames(item: string): Promise<string[]>;
  /** A note document, or null when it is gone. */
  readNote(item: string, name: string): Promise<Buffer | null>;
  locate(item: string, path?: string): string;
  close(): Promise<void>;
}

/** archive.org's identifier rule, which every backend applies: letters, digits, `.`, `-`, `_`. */
export const ITEM_NAME = IDENTIFIER;

/** The Unix time stamp (seconds) a note or a previous version is named by. */
export function unixStamp(date: Date): string {
  return String(Math.floor(date.getTime() / 1000));
}

/** Throws UnsafePathError unless `name` can name an item (and a folder of the working directory). */
export function checkItemName(name: string | null | undefined, what = 'item name'): asserts name is string {
  if (!name || !ITEM_NAME.test(name)) throw new UnsafePathError(`no usable ${what}: ${JSON.stringify(name)}`);
}

/**
 * Whether a manifest path can be stored as given: relative, `/`-separated, no empty, `.` or `..`
 * segments, no NUL or backslash, and not inside the store's own `.fileset` folder.
 */
export function isSafeItemPath(path: string): boolean {
  if (!path || path.length > 1024 || path.startsWith('/') || /[\\\0]/.test(path)) return false;
  const segments = path.split('/');
  if (segments[0] === '.fileset') return false;
  return segments.every((s) => s !== '' && s !== '.' && s !== '..');
}

// The item layer over every backend (as unstorage keeps its key rules above its drivers): item
// names and file paths are checked here, once, with one status (`unsafe-path`); notes are named,
// serialised and read back here; and the name a replaced file's previous version is kept under is
// chosen here. The backends (fs.ts, s3.ts, ias3.ts) only store bytes, metadata and documents.
import type { Readable } from 'node:stream';
import { UnsafePathError } from '../../errors.js';
import {
  checkItemName,
  isSafeItemPath,
  unixStamp,
  type ItemBackend,
  type ItemFile,
  type ItemNote,
  type ItemStore,
  type PutFile,
} from './types.js';

/** `<unix ts>.json`, or `<unix ts>-<n>.json` for the n-th more note of the same second. */
const NOTE_NAME = /^(\d+)(?:-(\d+))?\.json$/;

export interface ItemLayerOptions {
  /** The clock that stamps previous versions. */
  now?: () => Date;
}

export function createItemStore(backend: ItemBackend, options: ItemLayerOptions = {}): ItemStore {
  return new ItemLayer(backend, options.now ?? (() => new Date()));
}

class ItemLayer implements ItemStore {
  constructor(
    private readonly backend: ItemBackend,
    private readonly now: () => Date,
  ) {}

  get kind(): string {
    return this.backend.kind;
  }

  async listFiles(item: string, signal?: AbortSignal): Promise<ItemFile[]> {
    checkItemName(item);
    return this.backend.listFiles(item, signal);
  }

  async putFile(item: string, file: PutFile, signal?: AbortSignal): Promise<void> {
    checkItemName(item);
    checkPath(item, file.path);
    await this.backend.putFile(item, file, `.fileset/versions/${unixStamp(this.now())}/${file.path}`, signal);
  }

  async readFile(item: string, path: string): Promise<Readable> {
    checkItemName(item);
    checkPath(item, path);
    return this.backend.readFile(item, path);
  }

  async setMetadata(item: string, metadata: Record<string, unknown>): Promise<void> {
    checkItemName(item);
    await this.backend.setMetadata(item, metadata);
  }

  async getMetadata(item: string): Promise<Record<string, unknown> | null> {
    checkItemName(item);
    return this.backend.getMetadata(item);
  }

  /** One document per note, named by its time; a second note of the same second gets `-1`, and so on. */
  async writeNote(item: string, note: ItemNote): Promise<void> {
    checkItemName(item);
    const body = Buffer.from(`${JSON.stringify({ ...note, time: note.time.toISOString() }, null, 2)}\n`);
    const stamp = unixStamp(note.time);
    for (let n = 0; ; n += 1) {
      if (await this.backend.createNote(item, n === 0 ? `${stamp}.json` : `${stamp}-${n}.json`, body)) return;
    }
  }

  async listNotes(item: string): Promise<ItemNote[]> {
    checkItemName(item);
    const order = (name: string) =>
      NOTE_NAME.exec(name)!
        .slice(1)
        .map((part) => Number(part ?? 0)) as [number, number];
    const names = (await this.backend.noteNames(item)).filter((name) => NOTE_NAME.test(name));
    names.sort((a, b) => {
      const [x, y] = [order(a), order(b)];
      return x[0] - y[0] || x[1] - y[1];
    });
    const notes: ItemNote[] = [];
    for (const name of names) {
      const bytes = await this.backend.readNote(item, name);
      if (!bytes) continue;
      const note = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      const time = new Date(typeof note.time === 'string' ? note.time : Number.NaN);
      notes.push({ ...note, time: Number.isNaN(time.getTime()) ? new Date(order(name)[0] * 1000) : time });
    }
    return notes;
  }

  locate(item: string, path?: string): string {
    checkItemName(item);
    return this.backend.locate(item, path);
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

function checkPath(item: string, path: string): void {
  if (!isSafeItemPath(path)) throw new UnsafePathError(`unsafe path in item ${item}: ${JSON.stringify(path)}`);
}

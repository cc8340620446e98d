// The contract every item store backend passes (fs, s3, ias3): one suite, registered by each
// backend's test file with a factory for a fresh, empty store.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ItemFile, ItemStore, PutFile } from '../../../src/stores/items/types.js';

export interface ContractOptions {
  /** Whether the backend stores and lists sha256 (archive.org does not: it lists null). */
  knowsSha256: boolean;
  /** Size of the large-file test (above the backend's multipart threshold where it has one). */
  largeFileSize?: number;
}

let localSerial = 0;

/** A local file holding `bytes` in `dir`, described as putFile wants it. */
export async function localFile(
  dir: string,
  path: string,
  bytes: Buffer | string,
  mimetype: string | null = 'text/plain',
): Promise<PutFile> {
  const data = Buffer.from(bytes);
  const source = join(dir, `src-${process.pid}-${++localSerial}`);
  await writeFile(source, data);
  return { path, source, mimetype, ...hashes(data) };
}

function hashes(bytes: Buffer) {
  const hex = (alg: string) => createHash(alg).update(bytes).digest('hex');
  return { size: bytes.length, md5: hex('md5'), sha1: hex('sha1'), sha256: hex('sha256') };
}

export async function readAllBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function itemStoreContract(name: string, open: () => Promise<ItemStore>, options: ContractOptions): void {
  describe(`item store contract: ${name}`, () => {
    let store: ItemStore;
    let dir: string;
    let serial = 0;
    /** A fresh item name per test, so tests never see each other's files. */
    const newItem = () => `contract-item-${process.pid}-${Date.now().toString(36)}-${++serial}`;

    const local = (path: string, bytes: Buffer, mimetype: string | null = 'text/plain') =>
      localFile(dir, path, bytes, mimetype);

    const listed = (file: PutFile): ItemFile => ({
      path: file.path,
      size: file.size,
      md5: file.md5,
      sha1: file.sha1,
      sha256: options.knowsSha256 ? file.sha256 : null,
      mimetype: file.mimetype,
    });

    beforeAll(async () => {
      store = await open();
      dir = await mkdtemp(join(tmpdir(), `item-contract-${name}-`));
    });

    afterAll(async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('lists no files and no metadata for an item that does not exist', async () => {
      const item = newItem();
      expect(await store.listFiles(item)).toEqual([]);
      expect(await store.getMetadata(item)).toBeNull();
      expect(await store.listNotes(item)).toEqual([]);
    });

    it('stores files at their manifest paths (nested, spaces, non-ASCII) and lists them with their hashes', async () => {
      const item = newItem();
      const files = [
        await local('data.csv', Buffer.from('a,b\n1,2\n'), 'text/csv'),
        await local('deep/er/nest ed/données.json', Buffer.from('{"x": 1}\n'), 'application/json'),
        await local('empty.txt', Buffer.alloc(0), null),
      ];
      for (const file of files) await store.putFile(item, file);
      const list = (await store.listFiles(item)).sort((a, b) => a.path.localeCompare(b.path));
      expect(list).toEqual(files.map(listed).sort((a, b) => a.path.localeCompare(b.path)));
      expect(await readAllBytes(await store.readFile(item, 'deep/er/nest ed/données.json'))).toEqual(
        Buffer.from('{"x": 1}\n'),
      );
      expect(await readAllBytes(await store.readFile(item, 'empty.txt'))).toEqual(Buffer.alloc(0));
      expect(store.locate(item, 'data.csv')).toContain(item);
    });

    it('keeps items apart', async () => {
      const [a, b] = [newItem(), newItem()];
      await store.putFile(a, await local('only-in-a.txt', Buffer.from('a')));
      expect(await store.listFiles(b)).toEqual([]);
      expect((await store.listFiles(a)).map((f) => f.path)).toEqual(['only-in-a.txt']);
    });

    it('replaces a file with new bytes; putting identical bytes again changes nothing', async () => {
      const item = newItem();
      const first = await local('table.csv', Buffer.from('v1\n'));
      const second = await local('table.csv', Buffer.from('version 2\n'));
      await store.putFile(item, first);
      await store.putFile(item, second);
      expect(await store.listFiles(item)).toEqual([listed(second)]);
      expect((await readAllBytes(await store.readFile(item, 'table.csv'))).toString()).toBe('version 2\n');
      await store.putFile(item, await local('table.csv', Buffer.from('version 2\n')));
      expect(await store.listFiles(item)).toEqual([listed(second)]);
    });

    it('streams a large file in and out without changing a byte', async () => {
      const item = newItem();
      const size = options.largeFileSize ?? 12 * 1024 * 1024 + 123;
      const source = join(dir, 'large.bin');
      const md5 = createHash('md5');
      const sha1 = createHash('sha1');
      const sha256 = createHash('sha256');
      const out = createWriteStream(source);
      await pipeline(
        (async function* () {
          for (let left = size; left > 0;) {
            const chunk = randomBytes(Math.min(left, 1 << 20));
            md5.update(chunk);
            sha1.update(chunk);
            sha256.update(chunk);
            left -= chunk.length;
            yield chunk;
          }
        })(),
        out,
      );
      const file: PutFile = {
        path: 'large/blob.bin',
        source,
        size,
        md5: md5.digest('hex'),
        sha1: sha1.digest('hex'),
        sha256: sha256.digest('hex'),
        mimetype: 'application/octet-stream',
      };
      await store.putFile(item, file);
      expect(await store.listFiles(item)).toEqual([listed(file)]);
      const back = createHash('sha1');
      let length = 0;
      for await (const chunk of await store.readFile(item, 'large/blob.bin')) {
        back.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      expect(length).toBe(size);
      expect(back.digest('hex')).toBe(file.sha1);
    });

    it('keeps the item metadata last set', async () => {
      const item = newItem();
      await store.setMetadata(item, { title: 'First', creator: ['A'] });
      await store.setMetadata(item, { title: 'A dataset', creator: ['A', 'B'], date: '2022-09-14' });
      expect(await store.getMetadata(item)).toMatchObject({
        title: 'A dataset',
        creator: ['A', 'B'],
        date: '2022-09-14',
      });
    });

    it('keeps every note, oldest first', async () => {
      const item = newItem();
      await store.writeNote(item, { time: new Date('2026-01-02T03:04:05Z'), status: 'success', changed: [] });
      await store.writeNote(item, { time: new Date('2026-02-02T03:04:05Z'), status: 'success-existing' });
      const notes = await store.listNotes(item);
      expect(notes.map((n) => [n.time.toISOString(), n.status])).toEqual([
        ['2026-01-02T03:04:05.000Z', 'success'],
        ['2026-02-02T03:04:05.000Z', 'success-existing'],
      ]);
      expect(notes[0]).toMatchObject({ changed: [] });
    });

    it('keeps two notes of the same second apart, in the order they were written', async () => {
      const item = newItem();
      const time = new Date('2026-03-04T05:06:07Z');
      await store.writeNote(item, { time, status: 'first' });
      await store.writeNote(item, { time, status: 'second' });
      expect((await store.listNotes(item)).map((n) => [n.time.toISOString(), n.status])).toEqual([
        ['2026-03-04T05:06:07.000Z', 'first'],
        ['2026-03-04T05:06:07.000Z', 'second'],
      ]);
    });

    // Regression: fs and s3 threw a plain Error for a bad item name, ias3 an ItemUploadError.
    it.each(['../elsewhere', '', 'a/b', '-dash-first', 'x'.repeat(101)])(
      'refuses the item name %j with unsafe-path on every operation',
      async (bad) => {
        const file = await local('a.txt', Buffer.from('a'));
        for (const operation of [
          () => store.listFiles(bad),
          () => store.putFile(bad, file),
          () => store.readFile(bad, 'a.txt'),
          () => store.setMetadata(bad, { title: 'x' }),
          () => store.getMetadata(bad),
          () => store.writeNote(bad, { time: new Date() }),
          () => store.listNotes(bad),
        ]) {
          await expect(operation()).rejects.toMatchObject({ status: 'unsafe-path' });
        }
        expect(() => store.locate(bad)).toThrow(/no usable item name/);
      },
    );

    it('refuses an unsafe path with unsafe-path, for writing and for reading', async () => {
      const item = newItem();
      await expect(store.putFile(item, await local('../escape.txt', Buffer.from('x')))).rejects.toMatchObject({
        status: 'unsafe-path',
      });
      await expect(store.readFile(item, '.fileset/meta.json')).rejects.toMatchObject({ status: 'unsafe-path' });
      expect(await store.listFiles(item)).toEqual([]);
    });

    it('fails to read a file that is not there', async () => {
      await expect(store.readFile(newItem(), 'nope.txt')).rejects.toThrow();
    });
  });
}

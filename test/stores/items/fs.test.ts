import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IngestError } from '../../../src/errors.js';
import { createFsItemStore } from '../../../src/stores/items/fs.js';
import type { ItemStore, PutFile } from '../../../src/stores/items/types.js';
import { silentLogger } from '../../support/context.js';
import { itemStoreContract } from './contract.js';

const roots: string[] = [];
async function newRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'items-fs-'));
  roots.push(root);
  return root;
}

itemStoreContract('fs', async () => createFsItemStore({ root: await newRoot(), logger: silentLogger }), {
  knowsSha256: true,
});

describe('fs item store', () => {
  let root: string;
  let store: ItemStore;
  let clock: Date;

  async function local(path: string, text: string): Promise<PutFile> {
    const bytes = Buffer.from(text);
    const source = join(
      root,
      `.src-${createHash('md5')
        .update(path + text)
        .digest('hex')}`,
    );
    await writeFile(source, bytes);
    const hex = (alg: string) => createHash(alg).update(bytes).digest('hex');
    return {
      path,
      source,
      size: bytes.length,
      md5: hex('md5'),
      sha1: hex('sha1'),
      sha256: hex('sha256'),
      mimetype: 'text/plain',
    };
  }

  beforeEach(async () => {
    root = await newRoot();
    clock = new Date('2026-03-01T00:00:00Z');
    store = createFsItemStore({ root, logger: silentLogger, now: () => clock });
  });

  afterEach(async () => {
    await store.close();
    for (const dir of roots.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  it('an item can be read back from the files alone, without any store code', async () => {
    await store.putFile('zenodo.org-1', await local('data/a.csv', 'x,y\n'));
    await store.setMetadata('zenodo.org-1', { title: 'T' });
    await store.writeNote('zenodo.org-1', { time: clock, status: 'success' });
    const dir = join(root, 'zenodo.org-1');
    expect(readFileSync(join(dir, 'data', 'a.csv'), 'utf8')).toBe('x,y\n');
    expect(JSON.parse(readFileSync(join(dir, '.fileset', 'files.json'), 'utf8'))).toEqual([
      {
        path: 'data/a.csv',
        size: 4,
        md5: createHash('md5').update('x,y\n').digest('hex'),
        sha1: createHash('sha1').update('x,y\n').digest('hex'),
        sha256: createHash('sha256').update('x,y\n').digest('hex'),
        mimetype: 'text/plain',
      },
    ]);
    expect(JSON.parse(readFileSync(join(dir, '.fileset', 'meta.json'), 'utf8'))).toEqual({ title: 'T' });
    expect(await readdir(join(dir, '.fileset', 'notes'))).toEqual(['1772323200.json']);
    expect(JSON.parse(readFileSync(join(dir, '.fileset', 'notes', '1772323200.json'), 'utf8'))).toEqual({
      time: '2026-03-01T00:00:00.000Z',
      status: 'success',
    });
  });

  it('a renewal keeps the previous version under its time stamp', async () => {
    await store.putFile('item', await local('t.csv', 'v1\n'));
    clock = new Date('2026-04-01T00:00:00Z');
    await store.putFile('item', await local('t.csv', 'v2\n'));
    expect(readFileSync(join(root, 'item', 't.csv'), 'utf8')).toBe('v2\n');
    expect(readFileSync(join(root, 'item', '.fileset', 'versions', '1775001600', 't.csv'), 'utf8')).toBe('v1\n');
  });

  it('identical content is one inode, wherever it is stored', async () => {
    await store.putFile('one', await local('a.txt', 'same bytes'));
    await store.putFile('two', await local('deep/b.txt', 'same bytes'));
    const [a, b] = [statSync(join(root, 'one', 'a.txt')), statSync(join(root, 'two', 'deep', 'b.txt'))];
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBeGreaterThanOrEqual(3); // both paths and the blob
  });

  it('takes a source on the same file system by hard link, and copies one from another file system', async () => {
    const same = await local('same.txt', 'linked, not copied');
    await store.putFile('item', same);
    expect(statSync(join(root, 'item', 'same.txt')).ino).toBe(statSync(same.source).ino);
    // /dev/shm is a tmpfs here: a link across file systems fails (EXDEV) and the store copies.
    const other = await mkdtemp('/dev/shm/items-fs-');
    roots.push(other);
    const far = { ...(await local('far.txt', 'copied across file systems')), source: join(other, 'far.txt') };
    await writeFile(far.source, 'copied across file systems');
    await store.putFile('item', far);
    expect(readFileSync(join(root, 'item', 'far.txt'), 'utf8')).toBe('copied across file systems');
    expect(statSync(join(root, 'item', 'far.txt')).ino).not.toBe(statSync(far.source).ino);
  });

  it('refuses a source that is not what it claims, leaving nothing behind', async () => {
    const liar = { ...(await local('x.txt', 'real bytes')), sha1: 'f'.repeat(40) };
    await expect(store.putFile('item', liar)).rejects.toThrow(/sha1/);
    expect(await store.listFiles('item')).toEqual([]);
    expect((await readdir(join(root, '.blobs', 'ff')).catch(() => [])).length).toBe(0);
  });

  it.each(['../escape.txt', '/abs.txt', 'a/../../b', '.fileset/files.json', 'a\\b', 'a//b'])(
    'refuses the unsafe path %s with unsafe-path',
    async (path) => {
      const error = await store.putFile('item', { ...(await local('ok.txt', 'x')), path }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IngestError);
      expect((error as IngestError).status).toBe('unsafe-path');
      expect(await readdir(root)).not.toContain('escape.txt');
    },
  );

  it('concurrent puts into one item all end up in its file list', async () => {
    const files = await Promise.all(
      Array.from({ length: 12 }, (_, i) => local(`f${String(i).padStart(2, '0')}.txt`, `file ${i}`)),
    );
    await Promise.all(files.map((f) => store.putFile('busy', f)));
    expect((await store.listFiles('busy')).map((f) => f.path)).toEqual(files.map((f) => f.path));
  });

  it('a part file left by a killed writer is never listed', async () => {
    await store.putFile('item', await local('a.txt', 'a'));
    await writeFile(join(root, 'item', '.tmp-deadbeef0000'), 'half a file');
    expect((await store.listFiles('item')).map((f) => f.path)).toEqual(['a.txt']);
    expect(await readFile(join(root, 'item', 'a.txt'), 'utf8')).toBe('a');
  });
});

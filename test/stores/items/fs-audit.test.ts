// FsItemAudit over an fs item store the store itself wrote (two versions of a file, a note), then
// damaged: a previous version's bytes, a note, a file files.json lists but the disk lost.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsItemAudit } from '../../../src/stores/items/fs-audit.js';
import { createFsItemStore } from '../../../src/stores/items/fs.js';
import type { ItemStore, PutFile } from '../../../src/stores/items/types.js';
import { silentLogger } from '../../support/context.js';

const ITEM = 'zenodo.org-1';
let root: string;
let store: ItemStore;
let clock: Date;

async function put(path: string, text: string): Promise<void> {
  const bytes = Buffer.from(text);
  const source = join(root, `.src-${createHash('md5').update(text).digest('hex')}`);
  await writeFile(source, bytes);
  const hex = (alg: string) => createHash(alg).update(bytes).digest('hex');
  const file: PutFile = {
    path,
    source,
    size: bytes.length,
    md5: hex('md5'),
    sha1: hex('sha1'),
    sha256: hex('sha256'),
    mimetype: 'text/plain',
  };
  await store.putFile(ITEM, file);
}

async function audit(): Promise<FsItemAudit> {
  const result = new FsItemAudit(root);
  for (const item of await result.itemNames()) await result.item(item);
  await result.blobs();
  return result;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'items-audit-'));
  clock = new Date('2026-03-01T00:00:00Z');
  store = createFsItemStore({ root, logger: silentLogger, now: () => clock });
  await put('data/a.csv', 'first version\n');
  await store.writeNote(ITEM, { time: clock, status: 'success' });
  clock = new Date('2026-04-01T00:00:00Z');
  await put('data/a.csv', 'second version\n');
  await put('b.txt', 'b\n');
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('FsItemAudit', () => {
  it('finds an intact store intact, every listed file hashed', async () => {
    const result = await audit();
    expect(result.problems).toEqual([]);
    expect([result.items, result.files]).toEqual([1, 2]);
  });

  it('names a damaged previous version, a note that is no JSON object, and a listed file gone', async () => {
    const stamp = String(Date.parse('2026-04-01T00:00:00Z') / 1000);
    const version = join(root, ITEM, '.fileset', 'versions', stamp, 'data', 'a.csv');
    await writeFile(version, 'first versioN\n'); // in place: the blob it is a hard link of changes too
    const [note] = await readdir(join(root, ITEM, '.fileset', 'notes'));
    await writeFile(join(root, ITEM, '.fileset', 'notes', note!), '[1, 2]');
    await rm(join(root, ITEM, 'b.txt'));
    const problems = (await audit()).problems;
    expect(problems).toEqual([
      { where: `${ITEM}/b.txt`, message: 'listed in files.json but missing' },
      {
        where: `${ITEM}/.fileset/versions/${stamp}/data/a.csv`,
        message: 'previous version whose bytes match no stored content (damaged)',
      },
      { where: `${ITEM}/.fileset/notes/${note}`, message: 'unreadable note: not a JSON object' },
      {
        where: `.blobs/${createHash('sha1').update('first version\n').digest('hex')}`,
        message: 'content no longer hashes to its sha1',
      },
    ]);
  });
});

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, InfrastructureError, ItemUploadError } from '../../../src/errors.js';
import { createIas3ItemStore, type Ias3ItemStoreOptions } from '../../../src/stores/items/ias3.js';
import { type ItemStore, type PutFile } from '../../../src/stores/items/types.js';
import { silentLogger } from '../../support/context.js';
import { Ias3Server } from '../../support/ias3-server.js';
import { captureLogger } from '../../http/helpers.js';
import { NAWARIAN_PATHS } from '../../support/sites/archiveorg.js';
import { itemStoreContract, localFile, readAllBytes } from './contract.js';

const ACCESS = 'local-access-key';
const SECRET = 'Zq8-unlikely-secret-Xv27';

let server: Ias3Server;
let dir: string;
let serial = 0;

beforeAll(async () => {
  server = await Ias3Server.start({ accessKey: ACCESS, secretKey: SECRET });
  dir = await mkdtemp(join(tmpdir(), 'ias3-test-'));
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function openStore(overrides: Partial<Ias3ItemStoreOptions> & { secretKey?: string } = {}): ItemStore {
  const { secretKey = SECRET, ...rest } = overrides;
  return createIas3ItemStore({
    ias3: { endpoint: server.origin, metadataUrl: server.origin, accessKey: ACCESS, secretKey },
    logger: silentLogger,
    userAgent: 'fileset-ingest/test',
    retryBaseDelayMs: 1,
    sleep: async () => {},
    ...rest,
  });
}

const local = (path: string, text: string, mimetype: string | null = 'text/plain'): Promise<PutFile> =>
  localFile(dir, path, text, mimetype);

const newItem = (name: string) => `ias3-${name}-${++serial}`;

itemStoreContract('ias3', async () => openStore(), { knowsSha256: false });

describe('ias3 item store', () => {
  let store: ItemStore;
  beforeEach(() => {
    store = openStore();
    return () => store.close();
  });

  it('refuses to start without credentials', () => {
    expect(() =>
      createIas3ItemStore({
        ias3: { endpoint: server.origin, metadataUrl: server.origin, accessKey: ACCESS, secretKey: undefined },
        logger: silentLogger,
        userAgent: 'x',
      }),
    ).toThrow(ConfigError);
  });

  it('sends the IAS3 headers: LOW auth, auto-make-bucket, queue-derive 0, size hint, Content-MD5, file mimetype', async () => {
    const item = newItem('headers');
    const file = await local('dir/données.csv', 'a,b\n1,2\n', 'text/csv');
    await store.putFile(item, file);
    const put = server.requests.find((r) => r.method === 'PUT' && r.path === `/${item}/dir/données.csv`)!;
    expect(put.headers).toMatchObject({
      authorization: `LOW ${ACCESS}:${SECRET}`,
      'x-archive-auto-make-bucket': '1',
      'x-archive-queue-derive': '0',
      'x-archive-size-hint': '8',
      'content-length': '8',
      'content-md5': createHash('md5').update('a,b\n1,2\n').digest('base64'),
      'x-archive-filemeta-fileset--mimetype': 'text/csv',
    });
    expect(put.headers['x-archive-keep-old-version']).toBeUndefined();
    expect(await store.listFiles(item)).toEqual([
      { path: 'dir/données.csv', size: 8, md5: file.md5, sha1: file.sha1, sha256: null, mimetype: 'text/csv' },
    ]);
  });

  it('creates a new item with x-archive-meta headers: repeated values numbered, non-ASCII as uri(...), _ as --', async () => {
    const item = newItem('meta');
    await store.setMetadata(item, {
      title: 'Données de test',
      creator: ['Ada', 'Grace'],
      mediatype: 'data',
      external_id: 'doi:10.5281/zenodo.1',
      year: 2022,
      identifier: 'ignored',
    });
    const put = server.requests.find((r) => r.method === 'PUT' && r.path === `/${item}`)!;
    expect(put.headers).toMatchObject({
      authorization: `LOW ${ACCESS}:${SECRET}`,
      'x-archive-auto-make-bucket': '1',
      'x-archive-meta-title': 'uri(Donn%C3%A9es%20de%20test)',
      'x-archive-meta01-creator': 'Ada',
      'x-archive-meta02-creator': 'Grace',
      'x-archive-meta-mediatype': 'data',
      'x-archive-meta-external--id': 'doi:10.5281/zenodo.1',
      'x-archive-meta-year': '2022',
    });
    expect(put.headers['x-archive-meta-identifier']).toBeUndefined();
    expect(await store.getMetadata(item)).toMatchObject({
      identifier: item,
      title: 'Données de test',
      creator: ['Ada', 'Grace'],
      external_id: 'doi:10.5281/zenodo.1',
      year: '2022',
    });
  });

  it('changes the metadata of an existing item through the metadata write API, with only the fields that changed', async () => {
    const item = newItem('patch');
    await store.setMetadata(item, { title: 'First', creator: ['Ada'] });
    await store.setMetadata(item, { title: 'First', creator: ['Ada', 'Grace'], date: '2022-09-14' });
    const post = server.requests.filter((r) => r.method === 'POST' && r.path === `/metadata/${item}`);
    expect(post).toHaveLength(1);
    const form = new URLSearchParams(post[0]!.body);
    expect(form.get('-target')).toBe('metadata');
    expect(form.get('access')).toBe(ACCESS);
    expect(JSON.parse(form.get('-patch')!)).toEqual([
      { op: 'replace', path: '/creator', value: ['Ada', 'Grace'] },
      { op: 'add', path: '/date', value: '2022-09-14' },
    ]);
    // Nothing changed: no write (archive.org refuses an empty one with "no changes to _meta.xml").
    await store.setMetadata(item, { title: 'First' });
    expect(server.requests.filter((r) => r.method === 'POST' && r.path === `/metadata/${item}`)).toHaveLength(1);
  });

  it('replaces a file with x-archive-keep-old-version; the old one kept under history/ is never listed', async () => {
    const item = newItem('renewal');
    await store.putFile(item, await local('table.csv', 'v1\n'));
    const second = await local('table.csv', 'version 2\n');
    await store.putFile(item, second);
    const puts = server.requests.filter((r) => r.method === 'PUT' && r.path === `/${item}/table.csv`);
    expect(puts.map((r) => r.headers['x-archive-keep-old-version'])).toEqual([undefined, '1']);
    expect([...server.items.get(item)!.files.keys()].sort()).toEqual(['history/files/table.csv.~1~', 'table.csv']);
    expect((await store.listFiles(item)).map((f) => [f.path, f.md5])).toEqual([['table.csv', second.md5]]);
  });

  it('retries a 503 SlowDown, waiting what Retry-After asks, then uploads', async () => {
    const slept: number[] = [];
    const patient = openStore({ sleep: async (ms) => void slept.push(ms) });
    const item = newItem('slowdown');
    const file = await local('a.txt', 'hello');
    server.failNext('PUT', 2, { status: 503, code: 'SlowDown', retryAfter: '7' });
    await patient.putFile(item, file);
    await patient.close();
    expect(slept).toEqual([7000, 7000]);
    expect(server.calls('PUT').filter((c) => c === `PUT /${item}/a.txt`)).toHaveLength(3);
    expect((await readAllBytes(await store.readFile(item, 'a.txt'))).toString()).toBe('hello');
  });

  it('gives up on a store that keeps answering 503 with an InfrastructureError (a retry, never a status)', async () => {
    const item = newItem('overloaded');
    server.failNext('PUT', 6, { status: 503, code: 'ServiceUnavailable' });
    const error = await openStore({ retries: 5 })
      .putFile(item, await local('a.txt', 'x'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect((error as Error).message).toContain('after 6 attempts');
    expect((error as Error).message).toContain('503 ServiceUnavailable');
    expect(server.calls('PUT').filter((c) => c === `PUT /${item}/a.txt`)).toHaveLength(6);
  });

  it('gives up on an unreachable endpoint with an InfrastructureError', async () => {
    const closed = await closedPort();
    const offline = createIas3ItemStore({
      ias3: { endpoint: closed, metadataUrl: closed, accessKey: ACCESS, secretKey: SECRET },
      logger: silentLogger,
      userAgent: 'x',
      retries: 2,
      sleep: async () => {},
    });
    await expect(offline.putFile(newItem('offline'), await local('a.txt', 'x'))).rejects.toThrow(
      /could not upload .* after 3 attempts: connection to 127\.0\.0\.1:\d+ failed: ECONNREFUSED/,
    );
    await expect(offline.listFiles('anything')).rejects.toBeInstanceOf(InfrastructureError);
    await offline.close();
  });

  it('turns a 403 into ItemUploadError naming the status, with the secret in neither the message nor the logs', async () => {
    const { logger, lines } = captureLogger();
    const wrong = openStore({ secretKey: `${SECRET}-wrong`, logger });
    const item = newItem('denied');
    const error = await wrong.putFile(item, await local('a.txt', 'x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ItemUploadError);
    expect((error as ItemUploadError).status).toBe('error-archiveorg-upload');
    expect((error as Error).message).toBe(
      `PUT ${server.origin}/${item}/a.txt answered 403 AccessDenied: Access Denied`,
    );
    // The metadata write API carries the secret in its body: its refusal must not echo it either.
    await openStore().putFile(item, await local('b.txt', 'y'));
    const refused = await wrong.setMetadata(item, { title: 'T' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ItemUploadError);
    expect((refused as Error).message).toContain('answered 403');
    // A retried failure is logged: the log is not empty, and still holds no secret.
    server.failNext('PUT', 1, { status: 503, code: 'SlowDown', message: `echo ${SECRET}-wrong` });
    await expect(wrong.putFile(item, await local('c.txt', 'z'))).rejects.toBeInstanceOf(ItemUploadError);
    await wrong.close();
    expect(lines.length).toBeGreaterThan(0);
    for (const text of [
      JSON.stringify(lines),
      (error as Error).message,
      (refused as Error).message,
      String((error as Error).stack),
    ]) {
      expect(text).not.toContain(SECRET);
    }
    expect(JSON.stringify(lines)).toContain('[redacted]');
  });

  it('a 400 BadDigest (the bytes do not match their md5) is an ItemUploadError, and nothing is stored', async () => {
    const item = newItem('digest');
    const file = {
      ...(await local('a.txt', 'actual bytes')),
      md5: createHash('md5').update('other bytes').digest('hex'),
    };
    await expect(store.putFile(item, file)).rejects.toThrow(/answered 400 BadDigest/);
    expect(await store.listFiles(item)).toEqual([]);
  });

  it('an upload whose response was lost is found already landed and not uploaded twice', async () => {
    const item = newItem('lost-response');
    const file = await local('data/blob.bin', 'stored, but the answer never came', 'application/octet-stream');
    server.dropAfterStore(1);
    await store.putFile(item, file);
    expect(server.calls('PUT').filter((c) => c === `PUT /${item}/data/blob.bin`)).toHaveLength(1);
    expect([...server.items.get(item)!.files.keys()]).toEqual(['data/blob.bin']);
    expect(await store.listFiles(item)).toEqual([
      {
        path: 'data/blob.bin',
        size: file.size,
        md5: file.md5,
        sha1: file.sha1,
        sha256: null,
        mimetype: 'application/octet-stream',
      },
    ]);
  });

  it('a file that landed before a crash is not uploaded again by the next run', async () => {
    const item = newItem('after-crash');
    const file = await local('a.txt', 'landed');
    await store.putFile(item, file);
    await openStore().putFile(item, { ...file, source: join(dir, 'gone-after-the-crash') });
    expect(server.calls('PUT').filter((c) => c === `PUT /${item}/a.txt`)).toHaveLength(1);
  });

  it('lists nothing for an unknown item ({} from the metadata API)', async () => {
    expect(await store.listFiles(newItem('unknown'))).toEqual([]);
    expect(await store.getMetadata(newItem('unknown'))).toBeNull();
    expect(await store.listNotes(newItem('unknown'))).toEqual([]);
  });

  it('lists a recorded archive.org item: originals only, minus its system files; sizes as numbers; sha256 null', async () => {
    server.seed(
      JSON.parse(readFileSync('test/fixtures/archiveorg/nawarian-test.json', 'utf8')) as Parameters<
        Ias3Server['seed']
      >[0],
    );
    const files = await store.listFiles('nawarian-test');
    expect(files.map((f) => f.path)).toEqual(NAWARIAN_PATHS);
    expect(files[0]).toEqual({
      path: 'archive_388_data.tar.gz',
      size: 35380676,
      md5: '29e3cea56f0b26df41d2e28fce15b7a7',
      sha1: 'd3d6b5d8241e083f49b38b2b879a2ea29e46d872',
      sha256: null,
      mimetype: 'application/gzip',
    });
  });

  it('keeps notes as _fileset_notes/<unix ts>.json files that listFiles never shows', async () => {
    const item = newItem('notes');
    await store.putFile(item, await local('a.txt', 'x'));
    await store.writeNote(item, { time: new Date('2026-02-02T03:04:05Z'), status: 'success-existing' });
    await store.writeNote(item, { time: new Date('2026-01-02T03:04:05Z'), status: 'success', changed: ['a.txt'] });
    expect([...server.items.get(item)!.files.keys()].sort()).toEqual([
      '_fileset_notes/1767323045.json',
      '_fileset_notes/1770001445.json',
      'a.txt',
    ]);
    expect((await store.listFiles(item)).map((f) => f.path)).toEqual(['a.txt']);
    expect((await store.listNotes(item)).map((n) => [n.time.toISOString(), n.status, n.changed])).toEqual([
      ['2026-01-02T03:04:05.000Z', 'success', ['a.txt']],
      ['2026-02-02T03:04:05.000Z', 'success-existing', undefined],
    ]);
  });

  it('refuses paths archive.org or the store reserves, and unsafe ones', async () => {
    const item = newItem('reserved');
    await expect(store.putFile(item, await local('history/files/x.~1~', 'x'))).rejects.toBeInstanceOf(ItemUploadError);
    await expect(store.putFile(item, await local('_fileset_notes/1.json', '{}'))).rejects.toBeInstanceOf(
      ItemUploadError,
    );
    await expect(store.putFile(item, await local(`${item}_meta.xml`, '<x/>'))).rejects.toBeInstanceOf(ItemUploadError);
    await expect(store.putFile(item, await local('../escape.txt', 'x'))).rejects.toMatchObject({
      status: 'unsafe-path',
    });
    expect(server.calls('PUT').filter((c) => c.startsWith(`PUT /${item}`))).toEqual([]);
  });

  it('locates items and files on archive.org without credentials', () => {
    expect(store.locate('some-item')).toBe(`${server.origin}/details/some-item`);
    expect(store.locate('some-item', 'dir/a b.txt')).toBe(`${server.origin}/download/some-item/dir/a%20b.txt`);
  });
});

/** An origin on which nothing listens. */
async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

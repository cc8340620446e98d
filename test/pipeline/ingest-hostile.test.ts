// The pipeline against hostile servers: compression bombs on every kind of body (landing page,
// platform API, file download), each answered with its status, never internal-error.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { compressionBomb, type Coding } from '../support/bombs.js';
import { FixtureServer } from '../support/fixture-server.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { serveZenodoRecord } from '../support/zenodo-site.js';

let server: FixtureServer;
const runtimes: TestRuntime[] = [];

async function runtime(env: Record<string, string> = {}): Promise<TestRuntime> {
  const rt = await testRuntime(server.origin, env, ['https://bomb.example.org', 'https://zenodo.org']);
  runtimes.push(rt);
  return rt;
}

async function ingest(rt: TestRuntime, base_url: string) {
  const { result } = await ingestFileset({ base_url, ingest_type: 'dataset' }, rt.deps);
  FilesetResultSchema.parse(result);
  return result;
}

const BOMBS: Array<[string, Coding[]]> = [
  ['gzip', ['gzip']],
  ['br', ['br']],
  ['deflate', ['deflate']],
  ['gzip, br', ['gzip', 'br']],
];

beforeAll(async () => {
  server = await FixtureServer.start();
  for (const [i, [header, codings]] of BOMBS.entries()) {
    const body = await compressionBomb(48 << 20, codings);
    const headers = { 'Content-Encoding': header };
    server.route(`/page-${i}`, { body, headers: { ...headers, 'Content-Type': 'text/html' } });
    server.route(`/api/records/99900${i}`, { body, headers: { ...headers, 'Content-Type': 'application/json' } });
  }
  // Bigger than any API answer we read (64 MiB), once decoded.
  server.route('/api/records/999100', {
    body: await compressionBomb(80 << 20, ['gzip']),
    headers: { 'Content-Encoding': 'gzip', 'Content-Type': 'application/json' },
  });
  const { downloads } = serveZenodoRecord(server, 'zenodo_record_7078768.json', { landingHtml: null });
  server.route(downloads['capitals.csv']!, {
    body: await compressionBomb(16 << 20, ['gzip']),
    headers: { 'Content-Encoding': 'gzip', 'Content-Type': 'text/csv' },
  });
  server.route(downloads['table.xls']!, { body: Buffer.alloc(6144), headers: { 'Content-Type': 'application/x' } });
});

afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

afterAll(async () => {
  await server.close();
});

describe('compression bombs', () => {
  it('answers a landing page that decodes past FILESET_LANDING_MAX_SIZE with body-too-large, for every coding', async () => {
    const rt = await runtime({ FILESET_LANDING_MAX_SIZE: '1MiB' });
    // A nested coding is not decoded at all for capture (it is stored and hashed as transferred).
    for (const [i, [header]] of BOMBS.entries()) {
      if (header.includes(',')) continue;
      const result = await ingest(rt, `https://bomb.example.org/page-${i}`);
      expect([header, result.status, result.error_message]).toEqual([
        header,
        'body-too-large',
        expect.stringContaining('1048576 bytes'),
      ]);
    }
  });

  it('answers an API response that decodes past the API limit with platform-error naming the limit', async () => {
    const rt = await runtime();
    const result = await ingest(rt, 'https://zenodo.org/records/999100');
    expect(result).toMatchObject({
      status: 'platform-error',
      error_message: expect.stringMatching(/exceeds 67108864 bytes/),
    });
  });

  it('reads API responses in any coding, nested or not, up to the limit (they are not JSON: platform-error)', async () => {
    const rt = await runtime();
    for (const [i, [header]] of BOMBS.entries()) {
      const result = await ingest(rt, `https://zenodo.org/records/99900${i}`);
      expect([header, result.status]).toEqual([header, 'platform-error']);
    }
  });

  it('stops a file download that decodes past its declared size: mismatch-size for that file', async () => {
    const rt = await runtime();
    const result = await ingest(rt, 'https://zenodo.org/records/7078768');
    const capitals = result.manifest!.find((e) => e.path === 'capitals.csv')!;
    expect(capitals.status).toBe('mismatch-size');
    expect(result.status).toMatch(/^mismatch/);
  });
});

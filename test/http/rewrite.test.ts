import { afterEach, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../src/http/client.js';
import { rewriteUrl } from '../../src/http/rewrite.js';
import { readBody, startServer, testClient, type TestServer } from './helpers.js';

describe('rewriteUrl', () => {
  const map = new Map([
    ['https://zenodo.org', 'http://127.0.0.1:8081'],
    ['https://api.figshare.com', 'http://localhost:9000'],
  ]);
  it.each([
    ['https://zenodo.org/api/records/123?all=1', 'http://127.0.0.1:8081/api/records/123?all=1'],
    ['https://zenodo.org', 'http://127.0.0.1:8081/'],
    ['https://zenodo.org:443//double//slash', 'http://127.0.0.1:8081//double//slash'],
    ['https://api.figshare.com/v2/articles/1', 'http://localhost:9000/v2/articles/1'],
    ['http://zenodo.org/api', 'http://zenodo.org/api'], // another origin: scheme differs
    ['https://sandbox.zenodo.org/x', 'https://sandbox.zenodo.org/x'],
    ['not a url', 'not a url'],
  ])('%s -> %s', (from, to) => expect(rewriteUrl(from, map)).toBe(to));
});

describe('the client with a rewrite map', () => {
  let server: TestServer;
  let client: HttpClient;
  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('fetches from the target but reports the original URL and Host', async () => {
    server = await startServer((_req, res) => res.end('recorded'));
    ({ client } = testClient({ rewrite: new Map([['https://zenodo.org', server.origin]]) }));
    const response = await client.request('https://zenodo.org/api/records/7?q=a%20b');
    expect(response.url).toBe('https://zenodo.org/api/records/7?q=a%20b');
    expect(response.fetchedUrl).toBe(`${server.origin}/api/records/7?q=a%20b`);
    expect(response.requestHeaders[0]).toEqual(['Host', 'zenodo.org']);
    expect(server.requests[0]!.url).toBe('/api/records/7?q=a%20b');
    expect((await readBody(response.body)).toString()).toBe('recorded');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { BlockedCookieError, InvalidUrlError, RedirectLoopError, RedirectsExceededError } from '../../src/errors.js';
import type { HttpClient, HttpResponse } from '../../src/http/client.js';
import { followRedirects } from '../../src/http/redirects.js';
import { readBody, startServer, testClient, type TestServer } from './helpers.js';

let server: TestServer;
let client: HttpClient;
afterEach(async () => {
  await client.close();
  await server.close();
});

/** A server answering each path from a table: [status, headers, body]. */
async function routes(table: Record<string, [number, Record<string, string | string[]>, string?]>) {
  server = await startServer((req, res) => {
    const [status, headers, body] = table[req.url!] ?? [404, {}, 'no route'];
    const location = headers['Location'];
    if (typeof location === 'string') headers['Location'] = location.replace('ABSOLUTE', server.origin);
    res.writeHead(status, headers).end(body ?? '');
  });
  ({ client } = testClient());
  return server.origin;
}

describe('followRedirects', () => {
  it('follows a chain (absolute and relative Locations) and lists every hop', async () => {
    // The handler reads `server` when called, so the absolute Location can name the port.
    const origin = await routes({
      '/a': [301, { Location: '/b' }, 'moved'],
      '/b': [302, { Location: 'c?x=1' }],
      '/c?x=1': [308, { Location: 'ABSOLUTE/d' }],
      '/d': [307, { Location: '../e' }],
      '/e': [200, {}, 'final'],
    });
    const hopsSeen: number[] = [];
    const { final, hops } = await followRedirects(client, `${origin}/a`, {
      maxRedirects: 10,
      onHop: async (hop: HttpResponse) => {
        hopsSeen.push(hop.statusCode);
        await readBody(hop.body);
      },
    });
    expect(final.statusCode).toBe(200);
    expect((await readBody(final.body)).toString()).toBe('final');
    expect(hops).toEqual([`${origin}/a`, `${origin}/b`, `${origin}/c?x=1`, `${origin}/d`, `${origin}/e`]);
    expect(hopsSeen).toEqual([301, 302, 308, 307]);
  });

  it('treats a 3xx without Location as final', async () => {
    const origin = await routes({ '/a': [302, {}, 'nowhere to go'] });
    const { final, hops } = await followRedirects(client, `${origin}/a`, { maxRedirects: 5 });
    expect(final.statusCode).toBe(302);
    expect((await readBody(final.body)).toString()).toBe('nowhere to go');
    expect(hops).toEqual([`${origin}/a`]);
  });

  it('throws RedirectLoopError when a URL repeats', async () => {
    const origin = await routes({ '/a': [302, { Location: '/b' }], '/b': [302, { Location: '/a' }] });
    await expect(followRedirects(client, `${origin}/a`, { maxRedirects: 10 })).rejects.toBeInstanceOf(
      RedirectLoopError,
    );
    expect(server.requests.map((r) => r.url)).toEqual(['/a', '/b']);
  });

  it('throws BlockedCookieError when the looping responses set cookies (a cookie wall)', async () => {
    const origin = await routes({
      '/record': [302, { Location: '/login' }],
      '/login': [302, { Location: '/record', 'Set-Cookie': 'session=1; Path=/' }],
    });
    await expect(followRedirects(client, `${origin}/record`, { maxRedirects: 10 })).rejects.toBeInstanceOf(
      BlockedCookieError,
    );
  });

  it('throws RedirectsExceededError past maxRedirects, having requested only maxRedirects + 1 URLs', async () => {
    const origin = await routes({
      '/1': [302, { Location: '/2' }],
      '/2': [302, { Location: '/3' }],
      '/3': [302, { Location: '/4' }],
      '/4': [200, {}, 'too far'],
    });
    await expect(followRedirects(client, `${origin}/1`, { maxRedirects: 2 })).rejects.toBeInstanceOf(
      RedirectsExceededError,
    );
    expect(server.requests).toHaveLength(3);
    const { final } = await followRedirects(client, `${origin}/2`, { maxRedirects: 2 });
    expect(final.statusCode).toBe(200);
    final.body.resume();
  });

  it('throws InvalidUrlError for a Location with a non-http scheme', async () => {
    const origin = await routes({ '/a': [302, { Location: 'ftp://files.example.org/data.zip' }] });
    await expect(followRedirects(client, `${origin}/a`, { maxRedirects: 5 })).rejects.toBeInstanceOf(InvalidUrlError);
  });

  it('passes request headers on every hop and keeps original URLs when rewriting', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/start') res.writeHead(302, { Location: 'https://zenodo.org/next' }).end();
      else res.end('ok');
    });
    client = testClient({ rewrite: new Map([['https://zenodo.org', server.origin]]) }).client;
    const { final, hops } = await followRedirects(client, 'https://zenodo.org/start', {
      maxRedirects: 5,
      headers: { Accept: 'application/json' },
    });
    expect(hops).toEqual(['https://zenodo.org/start', 'https://zenodo.org/next']);
    expect(final.url).toBe('https://zenodo.org/next');
    expect(final.fetchedUrl).toBe(`${server.origin}/next`);
    expect(server.requests.map((r) => r.headers['accept'])).toEqual(['application/json', 'application/json']);
    final.body.resume();
  });
});

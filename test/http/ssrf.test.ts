import { afterEach, describe, expect, it } from 'vitest';
import { BlockedPrivateAddressError } from '../../src/errors.js';
import { followRedirects } from '../../src/http/redirects.js';
import type { LookupAddress } from 'node:dns';
import { createGuardedLookup, isBlockedAddress, type ResolveAll } from '../../src/http/ssrf.js';
import { startServer, testClient, type TestServer } from './helpers.js';

describe('isBlockedAddress', () => {
  const blocked = [
    '127.0.0.1',
    '127.255.255.254',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '100.127.255.255',
    '169.254.169.254',
    '0.0.0.0',
    '0.1.2.3',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%eth0',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:10.0.0.1',
    '::ffff:169.254.169.254',
    '::127.0.0.1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::1',
    '0:0:0:0:0:ffff:c0a8:0101',
    'not-an-ip',
    '',
  ];
  const allowed = [
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '192.169.0.1',
    '93.184.216.34',
    '2606:4700::1111',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ];
  it.each(blocked)('blocks %s', (ip) => expect(isBlockedAddress(ip)).toBe(true));
  it.each(allowed)('allows %s', (ip) => expect(isBlockedAddress(ip)).toBe(false));
});

describe('the guarded DNS lookup', () => {
  const fakeDns =
    (table: Record<string, LookupAddress[]>): ResolveAll =>
    (hostname, _options, callback) =>
      callback(null, table[hostname] ?? []);
  const lookup = createGuardedLookup(
    fakeDns({
      'public.test': [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:2800:220:1::1', family: 6 },
      ],
      'mixed.test': [
        { address: '93.184.216.34', family: 4 },
        { address: '10.0.0.5', family: 4 },
      ],
      'mapped.test': [{ address: '::ffff:169.254.169.254', family: 6 }],
    }),
  );
  const run = (hostname: string, all: boolean) =>
    new Promise<{ err: unknown; address: unknown; family: unknown }>((resolve) =>
      lookup(hostname, { all }, (err, address, family) => resolve({ err, address, family })),
    );

  it('answers with one address, or all of them when asked (autoSelectFamily asks for all)', async () => {
    expect(await run('public.test', false)).toEqual({ err: null, address: '93.184.216.34', family: 4 });
    expect((await run('public.test', true)).address).toHaveLength(2);
  });

  it('refuses a host when any of its addresses is blocked, naming host and address', async () => {
    for (const all of [false, true]) {
      const { err } = await run('mixed.test', all);
      expect(err).toBeInstanceOf(BlockedPrivateAddressError);
      expect((err as Error).message).toBe('mixed.test resolves to 10.0.0.5, a private or reserved address');
    }
    expect((await run('mapped.test', true)).err).toBeInstanceOf(BlockedPrivateAddressError);
  });

  it('reports a host without addresses as not found', async () => {
    expect((await run('nothing.test', false)).err).toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('SSRF guard in the client', () => {
  let server: TestServer;
  let other: TestServer;
  afterEach(async () => {
    await server?.close();
    await other?.close();
  });

  it('refuses a loopback IP literal before connecting', async () => {
    server = await startServer((_req, res) => res.end('secret'));
    const { client } = testClient({ allowPrivate: false });
    const err = await client.request(`${server.origin}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockedPrivateAddressError);
    expect((err as Error).message).toContain('127.0.0.1');
    expect(server.requests).toHaveLength(0);
    await client.close();
  });

  it('refuses a hostname that resolves to loopback (checked after DNS)', async () => {
    server = await startServer((_req, res) => res.end('secret'));
    const { client } = testClient({ allowPrivate: false, retries: 2 });
    const err = await client.request(`http://localhost:${server.port}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockedPrivateAddressError);
    expect((err as Error).message).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
    expect(server.requests).toHaveLength(0);
    await client.close();
  });

  it.each([
    'http://0x7f000001:PORT/',
    'http://2130706433:PORT/',
    'http://127.1:PORT/',
    'http://0177.0.0.1:PORT/',
    'http://[::1]:PORT/',
    'http://[::ffff:127.0.0.1]:PORT/',
    'http://[0:0:0:0:0:ffff:7f00:1]:PORT/',
    'http://127.0.0.1.:PORT/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00::1]/',
    'http://0.0.0.0:PORT/',
  ])('refuses the IP literal form %s', async (template) => {
    server = await startServer((_req, res) => res.end('secret'));
    const { client } = testClient({ allowPrivate: false });
    const err = await client.request(template.replace('PORT', String(server.port))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BlockedPrivateAddressError);
    expect(server.requests).toHaveLength(0);
    await client.close();
  });

  it('allows a rewritten origin that points at 127.0.0.1', async () => {
    server = await startServer((_req, res) => res.end('fixture'));
    const { client } = testClient({
      allowPrivate: false,
      rewrite: new Map([['https://zenodo.org', server.origin]]),
    });
    const response = await client.request('https://zenodo.org/api/records/1');
    expect(response.statusCode).toBe(200);
    response.body.resume();
    await client.close();
  });

  it('refuses a redirect from a rewritten server to another loopback port', async () => {
    other = await startServer((_req, res) => res.end('secret'));
    server = await startServer((_req, res) => {
      res.writeHead(302, { Location: `http://127.0.0.1:${other.port}/admin` }).end();
    });
    const { client } = testClient({
      allowPrivate: false,
      rewrite: new Map([['https://example.org', server.origin]]),
    });
    const err = await followRedirects(client, 'https://example.org/start', { maxRedirects: 5 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BlockedPrivateAddressError);
    expect(server.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(0);
    await client.close();
  });

  it('lets everything through when allowPrivate is set', async () => {
    server = await startServer((_req, res) => res.end('ok'));
    const { client } = testClient({ allowPrivate: true });
    const response = await client.request(`http://localhost:${server.port}/`);
    expect(response.statusCode).toBe(200);
    response.body.resume();
    await client.close();
  });
});

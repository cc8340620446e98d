import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyTooLargeError, InvalidUrlError, NetworkError, PlatformDownloadError } from '../../src/errors.js';
import type { HttpClient } from '../../src/http/client.js';
import { compressionBomb, type Coding } from '../support/bombs.js';
import { readBody, startServer, testClient, type TestServer } from './helpers.js';

let server: TestServer | undefined;
let client: HttpClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

describe('HttpClient.request', () => {
  it('sends our User-Agent, Accept and Accept-Encoding, and reports them with the original Host', async () => {
    server = await startServer((_req, res) => res.end('hello'));
    ({ client } = testClient());
    const response = await client.request(`${server.origin}/path?q=1`, { headers: { Accept: 'text/html' } });
    expect(await readBody(response.body)).toEqual(Buffer.from('hello'));
    const sent = server.requests[0]!.headers;
    expect(sent['user-agent']).toBe('fileset-ingest-test/1 (+test)');
    expect(sent['accept']).toBe('text/html');
    expect(sent['accept-encoding']).toBe('identity');
    expect(server.requests[0]!.url).toBe('/path?q=1');
    expect(response.requestHeaders).toEqual([
      ['Host', `127.0.0.1:${server.port}`],
      ['User-Agent', 'fileset-ingest-test/1 (+test)'],
      ['Accept', 'text/html'],
      ['Accept-Encoding', 'identity'],
    ]);
    expect(response).toMatchObject({ statusCode: 200, statusText: 'OK', httpVersion: '1.1', retries: 0 });
    expect(response.remoteAddress).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  it('tells onBytes of every body byte as it arrives, before the reader takes it, and of the final response only', async () => {
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(50_000, 2), Buffer.from('end')];
    let served = 0;
    server = await startServer((_req, res) => {
      if (served++ === 0) return res.writeHead(503).end('busy'); // retried: its body is not counted
      res.writeHead(200, { 'Content-Length': 120_003 });
      for (const chunk of chunks) res.write(chunk);
      res.end();
    });
    ({ client } = testClient({ retries: 1 }, { retryBaseDelayMs: 1 }));
    const seen: number[] = [];
    const response = await client.request(`${server.origin}/`, { onBytes: (n) => seen.push(n) });
    expect(response.statusCode).toBe(200);
    const body = await readBody(response.body);
    expect(body).toEqual(Buffer.concat(chunks));
    expect(seen.reduce((a, n) => a + n, 0)).toBe(120_003);
    expect(seen.every((n) => n > 0)).toBe(true);
  });

  it('keeps response headers in received order, one pair per value, with the server reason phrase', async () => {
    server = await startServer((_req, res) => {
      res.statusMessage = 'Fine Thanks';
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Custom', 'yes');
      res.end();
    });
    ({ client } = testClient());
    const response = await client.request(`${server.origin}/`);
    response.body.resume();
    expect(response.statusText).toBe('Fine Thanks');
    const cookies = response.headers.filter(([name]) => name.toLowerCase() === 'set-cookie');
    expect(cookies).toEqual([
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ]);
    expect(response.header('SET-COOKIE')).toBe('a=1');
    expect(response.header('x-custom')).toBe('yes');
    expect(response.header('missing')).toBeUndefined();
  });

  it('returns the body exactly as transferred, without decoding gzip', async () => {
    const gzipped = gzipSync(Buffer.from('{"a":1}'.repeat(100)));
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Type': 'application/json' });
      res.end(gzipped);
    });
    ({ client } = testClient());
    const response = await client.request(`${server.origin}/`);
    const bytes = await readBody(response.body);
    expect(bytes).toEqual(gzipped);
    expect(gunzipSync(bytes).toString()).toBe('{"a":1}'.repeat(100));
  });

  it('turns a body cut off mid-transfer into NetworkError', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write('only part of it', () => res.socket!.destroy());
    });
    ({ client } = testClient());
    const response = await client.request(`${server.origin}/`);
    await expect(readBody(response.body)).rejects.toBeInstanceOf(NetworkError);
  });

  it('lets an error the consumer destroys the body with through unchanged', async () => {
    server = await startServer((_req, res) => res.end('data'));
    ({ client } = testClient());
    const response = await client.request(`${server.origin}/`);
    const mine = new Error('disk full');
    const failed = new Promise((resolve) => response.body.once('error', resolve));
    response.body.destroy(mine);
    expect(await failed).toBe(mine);
  });

  it.each([
    'not a url',
    'ftp://example.org/x',
    'file:///etc/passwd',
    'http://user:pass@example.org/',
    'javascript:alert(1)',
  ])('rejects %s as an invalid URL', async (url) => {
    ({ client } = testClient());
    await expect(client.request(url)).rejects.toBeInstanceOf(InvalidUrlError);
  });
});

describe('retries', () => {
  it('retries a 503 and returns the 200 that follows', async () => {
    let count = 0;
    server = await startServer((_req, res) => {
      if (++count === 1) res.writeHead(503).end('busy');
      else res.end('done');
    });
    let lines;
    ({ client, lines } = testClient({ retries: 3 }));
    const response = await client.request(`${server.origin}/x`);
    expect(response.statusCode).toBe(200);
    expect(response.retries).toBe(1);
    expect((await readBody(response.body)).toString()).toBe('done');
    expect(server.requests).toHaveLength(2);
    const warn = lines.find((line) => line.msg === 'retrying request');
    expect(warn).toMatchObject({ level: 40, module: 'http', url: `${server.origin}/x`, status: 503, attempt: 1 });
  });

  it('honours Retry-After in seconds and as an HTTP date, capped at retryMaxDelayMs', async () => {
    const afters = ['7', new Date(Date.now() + 3_600_000).toUTCString()];
    server = await startServer((_req, res) => {
      const after = afters.shift();
      if (after) res.writeHead(503, { 'Retry-After': after }).end();
      else res.end('ok');
    });
    let sleeps: number[];
    ({ client, sleeps } = testClient({ retries: 4, retryMaxDelayMs: 60_000 }));
    const response = await client.request(`${server.origin}/`);
    response.body.resume();
    expect(response.statusCode).toBe(200);
    expect(sleeps).toEqual([7000, 60_000]);
  });

  it('backs off exponentially with jitter, never beyond the cap', async () => {
    server = await startServer((_req, res) => res.writeHead(500).end());
    let sleeps: number[];
    ({ client, sleeps } = testClient({ retries: 6, retryMaxDelayMs: 100 }));
    const response = await client.request(`${server.origin}/`);
    response.body.resume();
    expect(sleeps).toHaveLength(6);
    sleeps.forEach((ms, i) => expect(ms).toBeLessThanOrEqual(Math.min(100, 5 * 2 ** i)));
  });

  it('returns the last 429 when its own retries run out, pausing the host for Retry-After each time', async () => {
    server = await startServer((_req, res) => res.writeHead(429, { 'Retry-After': '1' }).end('slow down'));
    let sleeps: number[];
    ({ client, sleeps } = testClient({ retries: 0, rateLimitRetries: 2 }));
    const response = await client.request(`${server.origin}/`);
    expect(response.statusCode).toBe(429);
    expect(response.retries).toBe(2);
    expect((await readBody(response.body)).toString()).toBe('slow down');
    expect(server.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    for (const ms of sleeps) expect(ms).toBeGreaterThan(900);
  });

  it('does not retry when retry is false', async () => {
    server = await startServer((_req, res) => res.writeHead(503).end());
    ({ client } = testClient({ retries: 3 }));
    const response = await client.request(`${server.origin}/`, { retry: false });
    response.body.resume();
    expect(response.statusCode).toBe(503);
    expect(server.requests).toHaveLength(1);
  });

  it('throws NetworkError naming host and code once retries on connection resets run out', async () => {
    server = await startServer((req) => req.socket.destroy());
    let lines;
    ({ client, lines } = testClient({ retries: 2 }));
    const err = await client.request(`${server.origin}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toContain(`127.0.0.1:${server.port}`);
    expect((err as Error).message).toMatch(/UND_ERR_SOCKET|ECONNRESET/);
    expect(server.requests).toHaveLength(3);
    expect(lines.filter((line) => line.msg === 'retrying request').map((line) => line.attempt)).toEqual([1, 2]);
  });

  it('throws NetworkError for a refused connection', async () => {
    const closed = await startServer(() => {});
    await closed.close();
    ({ client } = testClient({ retries: 1 }));
    const err = await client.request(`${closed.origin}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toContain('ECONNREFUSED');
  });
});

describe('getJson', () => {
  it('parses JSON, decoding a compressed body, and reports the status', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/gz') {
        res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync('{"hits":[1,2]}'));
      } else if (req.url === '/missing') {
        res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"status":404}');
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>not json</html>');
      }
    });
    ({ client } = testClient());
    const gz = await client.getJson(`${server.origin}/gz`);
    expect(gz).toMatchObject({ statusCode: 200, json: { hits: [1, 2] } });
    expect(gz.response.header('content-encoding')).toBe('gzip');
    expect(server.requests[0]!.headers['accept']).toBe('application/json');
    expect(await client.getJson(`${server.origin}/missing`)).toMatchObject({ statusCode: 404, json: { status: 404 } });
    const html = await client.getJson(`${server.origin}/html`);
    expect(html.statusCode).toBe(200);
    expect(html.json).toBeUndefined();
  });

  it('throws BodyTooLargeError past the limit, declared or not', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/declared') res.end(JSON.stringify({ pad: 'x'.repeat(2000) }));
      else {
        res.write(`{"pad":"${'x'.repeat(1500)}`);
        res.end(`${'x'.repeat(1500)}"}`);
      }
    });
    ({ client } = testClient({ perHostConcurrency: 1 }));
    await expect(client.getJson(`${server.origin}/declared`, { limit: 1000 })).rejects.toBeInstanceOf(
      BodyTooLargeError,
    );
    await expect(client.getJson(`${server.origin}/chunked`, { limit: 1000 })).rejects.toBeInstanceOf(BodyTooLargeError);
    // Both bodies were released: with one slot per host this would otherwise wait for ever.
    expect((await client.getJson(`${server.origin}/declared`)).statusCode).toBe(200);
  });
});

describe('abort', () => {
  it('rejects with the signal reason while waiting for headers', async () => {
    const controller = new AbortController();
    const reason = new Error('deadline');
    server = await startServer(() => controller.abort(reason)); // never answers
    ({ client } = testClient());
    await expect(client.request(`${server.origin}/`, { signal: controller.signal })).rejects.toBe(reason);
  });

  it('stops a retry backoff at once', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    server = await startServer((_req, res) => {
      res.writeHead(503, { 'Retry-After': '3600' }).end();
      setImmediate(() => controller.abort(reason));
    });
    // The real sleep: the test would time out if the abort did not cut the hour-long wait short.
    ({ client } = testClient({ retries: 3, retryMaxDelayMs: 3_600_000 }, { sleep: undefined }));
    await expect(client.request(`${server.origin}/`, { signal: controller.signal })).rejects.toBe(reason);
  });

  it('rejects an already aborted request without sending it', async () => {
    server = await startServer((_req, res) => res.end());
    ({ client } = testClient());
    const reason = new Error('too late');
    await expect(client.request(`${server.origin}/`, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(server.requests).toHaveLength(0);
  });
});

describe('decoded-size bound', () => {
  it('stops a compression bomb at the limit, whatever the coding or nesting, without decoding it all', async () => {
    const limit = 1 << 20;
    const cases: Array<[string, Coding[]]> = [
      ['gzip', ['gzip']],
      ['deflate', ['deflate']],
      ['br', ['br']],
      ['gzip, gzip', ['gzip', 'gzip']],
      ['deflate, br', ['deflate', 'br']],
      ['X-Gzip', ['gzip']],
    ];
    const bodies = await Promise.all(cases.map(([, codings]) => compressionBomb(64 << 20, codings)));
    server = await startServer((req, res) => {
      const i = Number(req.url!.slice(1));
      res.writeHead(200, { 'Content-Encoding': cases[i]![0], 'Content-Type': 'application/json' }).end(bodies[i]);
    });
    ({ client } = testClient({ perHostConcurrency: 1 }));
    for (let i = 0; i < cases.length; i++) {
      const err = await client.getJson(`${server.origin}/${i}`, { limit }).catch((e: unknown) => e);
      expect(err, cases[i]![0]).toBeInstanceOf(BodyTooLargeError);
      expect((err as Error).message).toContain(`exceeds ${limit} bytes`);
    }
  });

  it('decodes a nested Content-Encoding in full within the limit', async () => {
    const json = Buffer.from(JSON.stringify({ hits: ['a'.repeat(5000)] }));
    const body = await compressionBomb(0, ['gzip']).then(() => gzipSync(gzipSync(json)));
    server = await startServer((_req, res) => res.writeHead(200, { 'Content-Encoding': 'gzip, gzip' }).end(body));
    ({ client } = testClient());
    expect((await client.getJson(`${server.origin}/`)).json).toEqual({ hits: ['a'.repeat(5000)] });
  });
});

describe('bodies that are not what their headers say', () => {
  it('gives PlatformDownloadError for a body not in its declared Content-Encoding, for every coding', async () => {
    server = await startServer((req, res) => {
      res
        .writeHead(200, { 'Content-Encoding': req.url!.slice(1).replace('%20', ' ') })
        .end(Buffer.from('not compressed at all'));
    });
    ({ client } = testClient());
    // Both settle (an empty gzip stream is no error): neither hangs.
    for (const coding of ['three-gzip,%20br', 'three-br']) {
      const settled = await client.getJson(`${server.origin}/${coding}`).then(
        () => 'resolved',
        (e: unknown) => (e instanceof PlatformDownloadError ? 'refused' : e),
      );
      expect(['resolved', 'refused']).toContain(settled);
    }
    for (const coding of ['gzip', 'deflate', 'br', 'gzip,%20br']) {
      const err = await client.getJson(`${server.origin}/${coding}`).catch((e: unknown) => e);
      expect(err, coding).toBeInstanceOf(PlatformDownloadError);
      expect((err as Error).message).toMatch(/could not be decoded as/);
    }
  });

  it('gives NetworkError, every time, for a body shorter than its Content-Length', async () => {
    server = await startServer((_req, res) => {
      res.socket!.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"short":');
    });
    ({ client } = testClient());
    for (let i = 0; i < 10; i++) {
      const err = await client.getJson(`${server.origin}/`, { retry: false }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
    }
  });
});

describe('close', () => {
  it('cuts a response whose body nobody reads once the grace is over, and says so', async () => {
    // Headers and a first chunk, then nothing: the body never ends by itself.
    server = await startServer((_req, res) => {
      res.writeHead(200);
      res.write(Buffer.alloc(64 * 1024));
    });
    const made = testClient();
    const unread = await made.client.request(`${server.origin}/never-read`);
    await made.client.close(50); // undici's own close() would wait for that body for ever
    await expect(readBody(unread.body)).rejects.toThrow('HTTP client closed with this response still unread');
    expect(made.lines.filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([
      'HTTP client closed with responses still unread: their connections were cut',
    ]);
  });

  it('lets a body being read finish within the grace, and closes saying nothing', async () => {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    server = await startServer((_req, res) => {
      res.writeHead(200);
      res.write('first half, ');
      void finished.then(() => res.end('second half'));
    });
    const made = testClient();
    const response = await made.client.request(`${server.origin}/slow`);
    const body = readBody(response.body);
    const closed = made.client.close(120_000);
    finish(); // the rest arrives while close() waits
    await closed;
    expect((await body).toString()).toBe('first half, second half');
    expect(made.lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});

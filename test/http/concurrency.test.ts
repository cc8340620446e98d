import { afterEach, describe, expect, it } from 'vitest';
import type { HttpClient } from '../../src/http/client.js';
import { HostLimiter } from '../../src/http/host-limiter.js';
import { readBody, startServer, testClient, type TestServer } from './helpers.js';

let server: TestServer | undefined;
let client: HttpClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
  client = undefined;
  server = undefined;
});

describe('per-host concurrency', () => {
  it('never has more than perHostConcurrency requests in flight at the server', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    server = await startServer((_req, res) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      // Answer a little later so that, without a limit, all eight would overlap.
      setTimeout(() => {
        inFlight--;
        res.end('x');
      }, 10);
    });
    ({ client } = testClient({ perHostConcurrency: 2 }));
    const bodies = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => readBody((await client!.request(`${server!.origin}/${i}`)).body)),
    );
    expect(bodies.map(String)).toEqual(Array(8).fill('x'));
    expect(maxInFlight).toBe(2);
  });

  it('holds the slot until the body ends, and frees it when the caller destroys the body', async () => {
    server = await startServer((_req, res) => res.end('body'));
    ({ client } = testClient({ perHostConcurrency: 1 }));
    const first = await client.request(`${server.origin}/1`);
    const controller = new AbortController();
    const reason = new Error('gave up waiting');
    const waiting = client.request(`${server.origin}/2`, { signal: controller.signal });
    // A full round trip to the same server under another host name: had /2 been sent, the server
    // would have seen it by now. It must not have been, while the first body is unread.
    const probe = await client.request(`http://localhost:${server.port}/probe`);
    await readBody(probe.body);
    expect(server.requests.map((r) => r.url)).toEqual(['/1', '/probe']);
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);

    first.body.destroy();
    const second = await client.request(`${server.origin}/3`);
    expect((await readBody(second.body)).toString()).toBe('body');
    const third = await client.request(`${server.origin}/4`);
    third.body.destroy(new Error('caller failed'));
    const head = await client.request(`${server.origin}/5`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    // HEAD bodies are released without the caller reading them.
    const last = await client.request(`${server.origin}/6`);
    last.body.resume();
    expect(server.requests.map((r) => r.url)).toEqual(['/1', '/probe', '/3', '/4', '/5', '/6']);
  });

  it('counts hosts separately', async () => {
    server = await startServer((_req, res) => res.end('ok'));
    ({ client } = testClient({ perHostConcurrency: 1 }));
    const held = await client.request(`http://127.0.0.1:${server.port}/`);
    const other = await client.request(`http://localhost:${server.port}/`);
    expect(other.statusCode).toBe(200);
    other.body.resume();
    held.body.resume();
  });
});

describe('HostLimiter', () => {
  it('grants slots first come, first served', async () => {
    const limiter = new HostLimiter(1);
    const order: number[] = [];
    const first = await limiter.acquire('h');
    const waits = [1, 2, 3].map((n) => limiter.acquire('h').then((release) => (order.push(n), release)));
    first();
    for (const wait of waits) (await wait)();
    expect(order).toEqual([1, 2, 3]);
    expect(limiter.active('h')).toBe(0);
  });

  it('ignores a second release and drops an aborted waiter from the queue', async () => {
    const limiter = new HostLimiter(1);
    const release = await limiter.acquire('h');
    const controller = new AbortController();
    const aborted = limiter.acquire('h', controller.signal);
    const next = limiter.acquire('h');
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    release();
    release();
    expect(limiter.active('h')).toBe(1);
    (await next)();
    expect(limiter.active('h')).toBe(0);
  });
});

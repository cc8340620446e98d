import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import type { HttpClient } from '../../src/http/client.js';
import { startServer, testClient, type TestServer } from './helpers.js';

let server: TestServer;
let client: HttpClient;
afterEach(async () => {
  await client.close();
  await server.close();
});

// Exposes gc() to this test without a command-line flag.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it('frees the host slot of a body the caller dropped without reading, once it is collected', async () => {
  server = await startServer((_req, res) => res.end('never read'));
  ({ client } = testClient({ perHostConcurrency: 1 }));
  await (async () => void (await client.request(`${server.origin}/dropped`)))();
  let settled = false;
  const next = client.request(`${server.origin}/next`).then((response) => {
    settled = true;
    return response;
  });
  for (let round = 0; round < 50 && !settled; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  expect(settled).toBe(true);
  (await next).body.resume();
});

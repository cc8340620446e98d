// Local servers on port 0 and a client wired to them, for the HTTP client's tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { HttpClient, type HttpClientDeps } from '../../src/http/client.js';

export interface TestServer {
  port: number;
  /** http://127.0.0.1:PORT */
  origin: string;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: IncomingMessage[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, resolve)); // all interfaces, IPv4 and IPv6
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function testConfig(http: Partial<Config['http']> = {}): Config {
  const config = loadConfig({ FILESET_USER_AGENT: 'fileset-ingest-test/1 (+test)' });
  return { ...config, http: { ...config.http, allowPrivate: true, ...http } };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A pino logger whose lines land in `lines`, so tests can assert what was logged. */
export function captureLogger() {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** A client with fast retries and a sleep that only records what it was asked to wait. */
export function testClient(http: Partial<Config['http']> = {}, deps: Partial<HttpClientDeps> = {}) {
  const { logger, lines } = captureLogger();
  const sleeps: number[] = [];
  const client = new HttpClient({
    config: testConfig(http),
    logger,
    retryBaseDelayMs: 5,
    sleep: async (ms) => void sleeps.push(ms),
    ...deps,
  });
  return { client, lines, sleeps };
}

export async function readBody(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

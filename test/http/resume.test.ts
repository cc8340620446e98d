// Dropped connections, at the TCP level: a server that resets or cuts the connection before the
// headers, after them, mid-body at several offsets, or sends a short body, with and without Range
// support. Every run must end the same way, with the archived bytes whole: one response record
// whose payload is the whole file, whatever the number of transfers it took.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { expectValidWarc } from '../support/jwarc.js';
import { testRuntime, warcFiles, type TestRuntime } from '../support/runtime.js';
import { recordJson } from '../support/zenodo-site.js';

type Fault = 'before-headers' | 'after-headers' | 'mid-body' | 'short-body';

interface Plan {
  fault: Fault;
  /** Body bytes sent before the fault (mid-body, short-body). */
  offset: number;
  /** Whether the server honours Range (206 with Content-Range), else it always sends the whole file. */
  ranges: boolean;
  /** How many responses for the file fail before it is served whole. */
  failures: number;
}

const FILE = randomBytes(300_000);
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** An HTTP/1.1 server written on raw sockets, so faults can land between any two bytes. */
class FaultyServer {
  plan: Plan = { fault: 'mid-body', offset: 0, ranges: true, failures: 0 };
  fileRequests: Array<{ range: string | undefined; ifRange: string | undefined }> = [];
  readonly routes = new Map<string, { body: Buffer; type: string }>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((socket) => this.onConnection(socket));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (data: Buffer) => {
      buffered += data.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [requestLine, ...lines] = buffered.slice(0, end).split('\r\n');
      buffered = buffered.slice(end + 4);
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      this.answer(socket, new URL(requestLine!.split(' ')[1]!, 'http://x').pathname, headers);
    });
  }

  private answer(socket: Socket, path: string, headers: Record<string, string>): void {
    const route = this.routes.get(path);
    if (!route) return void socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    const faulty = route.body === FILE;
    let status = '200 OK';
    let body = route.body;
    const extra: string[] = [];
    if (faulty) {
      this.fileRequests.push({ range: headers['range'], ifRange: headers['if-range'] });
      extra.push('ETag: "v1"');
      const range = /^bytes=(\d+)-$/.exec(headers['range'] ?? '');
      if (this.plan.ranges) extra.push('Accept-Ranges: bytes');
      if (this.plan.ranges && range && headers['if-range'] === '"v1"') {
        const from = Number(range[1]);
        status = '206 Partial Content';
        extra.push(`Content-Range: bytes ${from}-${FILE.length - 1}/${FILE.length}`);
        body = FILE.subarray(from);
      }
    }
    const head = Buffer.from(
      [`HTTP/1.1 ${status}`, `Content-Type: ${route.type}`, `Content-Length: ${body.length}`, ...extra]
        .join('\r\n')
        .concat('\r\n\r\n'),
      'latin1',
    );
    // Whole answers keep the connection open (the client closes it): undici 7 crashes the process
    // when a server closes a `Connection: close` response while its body is held back by backpressure.
    if (!faulty || this.fileRequests.length > this.plan.failures) return void socket.write(Buffer.concat([head, body]));
    const { fault } = this.plan;
    const sent = body.subarray(0, Math.min(this.plan.offset, body.length - 1));
    if (fault === 'before-headers') return void socket.resetAndDestroy();
    const data = fault === 'after-headers' ? head : Buffer.concat([head, sent]);
    if (fault === 'short-body') return void socket.end(data);
    socket.write(data, () => setImmediate(() => socket.resetAndDestroy()));
  }
}

let server: FaultyServer;
let recordAnswer: { body: Buffer; type: string };
let origin: string;
const runtimes: TestRuntime[] = [];

beforeAll(async () => {
  server = new FaultyServer();
  origin = await server.start();
  server.routes.set('/files/data.bin', { body: FILE, type: 'application/octet-stream' });
  // A recorded Zenodo record, its first file given our file's size and md5 (the record's own
  // bytes are too short to cut at these offsets), its second file dropped.
  const record = JSON.parse(recordJson('zenodo_record_7078768.json')) as {
    files: Array<{ size: number; checksum: string; links: { self: string } }>;
  };
  record.files = [{ ...record.files[0]!, size: FILE.length, checksum: `md5:${md5(FILE)}` }];
  recordAnswer = { body: Buffer.from(JSON.stringify(record)), type: 'application/json' };
  server.routes.set('/api/records/7078768', recordAnswer);
  server.routes.set(new URL(record.files[0]!.links.self).pathname, { body: FILE, type: 'text/csv' });
});

afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.dispose();
});

afterAll(async () => {
  await server.close();
});

async function run(plan: Plan, retries = 4, base_url = 'https://files.example.org/files/data.bin') {
  server.plan = plan;
  server.fileRequests = [];
  const rt = await testRuntime(origin, { FILESET_HTTP_RETRIES: String(retries) }, [
    'https://files.example.org',
    'https://zenodo.org',
  ]);
  runtimes.push(rt);
  const { result } = await ingestFileset({ base_url }, rt.deps);
  await rt.close();
  return { result, rt, requests: server.fileRequests };
}

/** The payloads of every response record for `url`, read back from the runtime's WARC files. */
async function responsePayloads(rt: TestRuntime, url: string): Promise<Buffer[]> {
  const payloads: Buffer[] = [];
  for (const name of await warcFiles(rt.warcDir)) {
    await expectValidWarc(join(rt.warcDir, name));
    const data = gunzipSync(readFileSync(join(rt.warcDir, name)));
    for (let at = 0; at < data.length;) {
      const headEnd = data.indexOf('\r\n\r\n', at);
      const head = data.subarray(at, headEnd).toString('latin1');
      const length = Number(/\r\nContent-Length: (\d+)/i.exec(head)![1]);
      const block = data.subarray(headEnd + 4, headEnd + 4 + length);
      if (/\r\nWARC-Type: response\r\n/.test(head) && head.includes(`\r\nWARC-Target-URI: ${url}\r\n`)) {
        payloads.push(block.subarray(block.indexOf('\r\n\r\n') + 4));
      }
      at = headEnd + 4 + length + 4; // the record and its two CRLFs
    }
  }
  return payloads;
}

const FAULTS: Array<[Fault, number]> = [
  ['before-headers', 0],
  ['after-headers', 0],
  ['mid-body', 1],
  ['mid-body', 65_536],
  ['mid-body', 299_999],
  ['short-body', 150_000],
];

describe('a download whose connection drops', () => {
  for (const ranges of [true, false]) {
    for (const [fault, offset] of FAULTS) {
      it(`${fault}${offset ? ` at byte ${offset}` : ''}, ${ranges ? 'with' : 'without'} Range support: archived whole, the same every run`, async () => {
        for (const failures of [1, 2]) {
          const { result, rt, requests } = await run({ fault, offset, ranges, failures });
          expect([failures, result.status, result.error_message]).toEqual([failures, 'success-file', undefined]);
          expect(result.fileset_file!.file_meta).toMatchObject({ size_bytes: FILE.length, sha1hex: sha1(FILE) });
          const payloads = await responsePayloads(rt, 'https://files.example.org/files/data.bin');
          expect(payloads.map((p) => [p.length, sha1(p)])).toEqual([[FILE.length, sha1(FILE)]]);
          expect(requests).toHaveLength(failures + 1);
          // A resume asks for the rest of the same version of the file.
          const resumed = requests.slice(1).filter((r) => r.range);
          for (const r of resumed)
            expect(r).toMatchObject({ range: expect.stringMatching(/^bytes=\d+-$/), ifRange: '"v1"' });
          // Before any body byte there is nothing to resume: the download starts over.
          if (fault === 'before-headers') expect(resumed).toEqual([]);
        }
      });
    }
  }

  it('of a platform dataset (a file download, not the landing page): resumed, archived whole', async () => {
    for (const [fault, offset] of FAULTS) {
      for (const ranges of [true, false]) {
        const { result, rt, requests } = await run(
          { fault, offset, ranges, failures: 2 },
          4,
          'https://zenodo.org/records/7078768',
        );
        expect([fault, ranges, result.status, result.manifest?.[0]?.status]).toEqual([
          fault,
          ranges,
          'success-file',
          'success',
        ]);
        expect(requests).toHaveLength(3);
        const url = result.manifest![0]!.platform_url!;
        const payloads = await responsePayloads(rt, url);
        expect(payloads.map((p) => [p.length, sha1(p)])).toEqual([[FILE.length, sha1(FILE)]]);
      }
    }
  });

  it('counts the bytes of a file once in the progress, even when a server without Range sends it whole again', async () => {
    for (const [fault, offset] of [
      ['mid-body', 65_536],
      ['short-body', 150_000],
    ] as Array<[Fault, number]>) {
      for (const ranges of [true, false]) {
        server.plan = { fault, offset, ranges, failures: 2 };
        server.fileRequests = [];
        const rt = await testRuntime(origin, { FILESET_HTTP_RETRIES: '4' }, ['https://zenodo.org']);
        runtimes.push(rt);
        const counted = new Map<string, number>();
        let peak = 0;
        const { result } = await ingestFileset(
          { base_url: 'https://zenodo.org/records/7078768' },
          {
            ...rt.deps,
            onProgress: (event) => {
              if (event.phase !== 'file-bytes') return;
              const now = (event.start ? 0 : (counted.get(event.path) ?? 0)) + event.bytes;
              counted.set(event.path, now);
              peak = Math.max(peak, now);
            },
          },
        );
        expect([fault, ranges, result.status, server.fileRequests.length]).toEqual([fault, ranges, 'success-file', 3]);
        expect([fault, ranges, peak, [...counted.values()]]).toEqual([fault, ranges, FILE.length, [FILE.length]]);
      }
    }
  });

  it('of a platform API answer: asked for again, the same outcome every run', async () => {
    for (const [fault, offset] of [
      ['mid-body', 100],
      ['short-body', 200],
      ['after-headers', 0],
    ] as Array<[Fault, number]>) {
      server.routes.set('/api/records/7078768', { body: FILE, type: 'application/json' });
      // The API answer itself faults this time: FILE stands in for it (not JSON: platform-error once read whole).
      const { result, requests } = await run(
        { fault, offset, ranges: true, failures: 1 },
        2,
        'https://zenodo.org/records/7078768',
      );
      expect([fault, result.status, result.error_message]).toEqual([
        fault,
        'platform-error',
        expect.stringMatching(/not JSON/),
      ]);
      expect(requests).toHaveLength(2);
    }
    server.routes.set('/api/records/7078768', recordAnswer);
  });

  it('gives error-platform-download... or network-error, every run, once the retries are spent', async () => {
    for (const [fault, offset] of FAULTS) {
      const outcomes = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const { result, requests } = await run({ fault, offset, ranges: true, failures: 1000 }, 2);
        outcomes.add(`${result.status} after ${requests.length} requests`);
        expect(result.error_message).not.toMatch(/internal|stack/i);
      }
      expect([fault, [...outcomes]]).toEqual([fault, [expect.stringMatching(/^network-error after [3-9] requests$/)]]);
    }
  });
});

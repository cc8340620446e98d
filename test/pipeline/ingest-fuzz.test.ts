// The unexpected-error budget: generated hostile answers (recorded Zenodo and Figshare API answers mutated,
// truncated or replaced by random bytes, under random headers; file downloads likewise) go through
// the whole pipeline against a local server. Any internal-error, or a stack trace in a result, is
// a defect. CI runs a fixed seed and a few dozen inputs; a long run by hand:
//   FILESET_FUZZ_RUNS=5000 FILESET_FUZZ_SEED=<n> npx vitest run test/pipeline/ingest-fuzz.test.ts
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { FIXTURES } from '../support/zenodo-site.js';

const RUNS = Number(process.env.FILESET_FUZZ_RUNS ?? 100);
const SEED = Number(process.env.FILESET_FUZZ_SEED ?? 12);

/** A recorded platform answer: where the API serves it, the request that leads there, its files' links. */
interface Target {
  baseUrl: string;
  apiPath: string;
  json: Record<string, unknown>;
  fileLinks: (json: unknown) => string[];
}

const fixture = (dir: string, name: string) =>
  JSON.parse(readFileSync(join(FIXTURES, dir, name), 'utf8')) as Record<string, unknown>;
const links = (json: unknown, field: (file: Record<string, unknown>) => unknown): string[] =>
  ((json as { files?: unknown }).files instanceof Array ? ((json as { files: unknown[] }).files as unknown[]) : [])
    .map((file) => (typeof file === 'object' && file !== null ? field(file as Record<string, unknown>) : undefined))
    .filter((link): link is string => typeof link === 'string');

/** Every recorded Zenodo record answer (each under its own id), and the recorded Figshare article. */
const TARGETS: Target[] = [
  ...readdirSync(join(FIXTURES, 'zenodo'))
    .filter((name) => /^zenodo_record_\d+.*\.json$/.test(name) && !name.includes('404'))
    .map((name) => {
      const json = fixture('zenodo', name);
      return {
        baseUrl: `https://zenodo.org/records/${String(json.id)}`,
        apiPath: `/api/records/${String(json.id)}`,
        json,
        fileLinks: (j: unknown) => links(j, (f) => (f.links as { self?: unknown } | undefined)?.self),
      };
    }),
  {
    baseUrl: 'https://api.figshare.com/v2/articles/10042703/versions/5',
    apiPath: '/v2/articles/10042703/versions/5',
    json: fixture('figshare', 'figshare_article_10042703_smithsonian_v5.json'),
    fileLinks: (j: unknown) => links(j, (f) => f.download_url),
  },
];

/** How one answer is spoiled. */
interface Spoil {
  body: { kind: 'as-is' } | { kind: 'truncate'; at: number } | { kind: 'random'; bytes: Uint8Array };
  encoding: string | null;
  /** Content-Length: true to the bytes sent, or off by `lie`. */
  lie: number;
  contentType: string;
  status: number;
}

interface Answer {
  body: Buffer;
  spoil: Spoil;
}

const spoilArb: fc.Arbitrary<Spoil> = fc.record({
  body: fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'as-is' as const }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: 5000 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 2000 }) }),
    },
  ),
  encoding: fc.constantFrom(null, null, null, 'gzip', 'br', 'deflate', 'gzip, br', 'zstd', 'bogus', 'gzip, bogus'),
  lie: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -50, max: 50 }) }),
  contentType: fc.constantFrom(
    'application/json',
    'text/html',
    'application/octet-stream',
    '',
    'text/plain; charset=x',
  ),
  status: fc.constantFrom(200, 200, 200, 200, 206, 404, 410, 500, 302),
});

/** A JSON mutation: at the n-th node (in walk order), delete it, or put another value there. */
const mutationArb = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('delete', 'replace'),
  value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.constant(null), fc.integer(), fc.constant(-1)),
});

function mutate(value: unknown, mutation: { at: number; op: string; value: unknown }): unknown {
  const copy = structuredClone(value);
  const nodes: Array<[Record<string, unknown> | unknown[], string | number]> = [];
  const walk = (v: unknown) => {
    if (typeof v !== 'object' || v === null) return;
    for (const key of Object.keys(v)) {
      const k = Array.isArray(v) ? Number(key) : key;
      nodes.push([v as Record<string, unknown>, k]);
      walk((v as Record<string, unknown>)[key]);
    }
  };
  walk(copy);
  if (!nodes.length) return copy;
  const [parent, key] = nodes[mutation.at % nodes.length]!;
  if (mutation.op === 'delete' && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
  else (parent as Record<string | number, unknown>)[key] = mutation.value;
  return copy;
}

function encode(body: Buffer, encoding: string | null): Buffer {
  let out = body;
  for (const coding of (encoding ?? '').split(',').map((c) => c.trim())) {
    if (coding === 'gzip') out = gzipSync(out);
    else if (coding === 'br') out = brotliCompressSync(out);
    else if (coding === 'deflate') out = deflateSync(out);
  }
  return out;
}

/** The bytes of a spoiled HTTP/1.1 answer. */
function render(answer: Answer): Buffer {
  const { spoil } = answer;
  let body = encode(answer.body, spoil.encoding);
  if (spoil.body.kind === 'truncate') body = body.subarray(0, spoil.body.at);
  if (spoil.body.kind === 'random') body = Buffer.from(spoil.body.bytes);
  const headers = [
    `HTTP/1.1 ${spoil.status} X`,
    `Content-Length: ${Math.max(0, body.length + spoil.lie)}`,
    ...(spoil.contentType ? [`Content-Type: ${spoil.contentType}`] : []),
    ...(spoil.encoding ? [`Content-Encoding: ${spoil.encoding}`] : []),
    ...(spoil.status === 302 ? ['Location: /elsewhere'] : []),
    'Connection: close',
  ];
  return Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** Answers every request from the current plan: by path, else 404. One request per connection. */
class PlanServer {
  plan = new Map<string, Answer>();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
      let head = '';
      socket.on('data', (data: Buffer) => {
        head += data.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        const path = new URL(head.split(' ')[1] ?? '/', 'http://x').pathname;
        const answer = this.plan.get(path);
        socket.end(
          answer ? render(answer) : 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        );
      });
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let server: PlanServer;
let rt: TestRuntime;

beforeAll(async () => {
  server = new PlanServer();
  const origin = await server.start();
  rt = await testRuntime(origin, { FILESET_HTTP_RETRIES: '1', FILESET_HTTP_BODY_TIMEOUT_MS: '1500' }, [
    'https://zenodo.org',
    'https://api.figshare.com',
    'https://ndownloader.figshare.com',
    'https://files.example.org',
  ]);
});

afterAll(async () => {
  await rt?.dispose();
  await server?.close();
});

const statuses = new Map<string, number>();

describe('generated hostile answers', () => {
  it(`never end in internal-error or show a stack (${RUNS} runs, seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: TARGETS.length - 1 }),
        fc.array(mutationArb, { maxLength: 4 }),
        spoilArb,
        fc.array(spoilArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (which, mutations, apiSpoil, fileSpoils, asFile) => {
          const target = TARGETS[which]!;
          const mutated = mutations.reduce<unknown>((r, m) => mutate(r, m), target.json);
          server.plan = new Map([[target.apiPath, { body: Buffer.from(JSON.stringify(mutated)), spoil: apiSpoil }]]);
          // The recorded links (a mutation may have spoiled the served ones: those are then 404s).
          target.fileLinks(target.json).forEach((link, i) => {
            const body = Buffer.from(`file ${i}\n`.repeat(50));
            server.plan.set(new URL(link).pathname, { body, spoil: fileSpoils[i % fileSpoils.length]! });
          });
          server.plan.set('/data.bin', { body: Buffer.from('a,b\n1,2\n'), spoil: fileSpoils[0]! });
          const base_url = asFile ? 'https://files.example.org/data.bin' : target.baseUrl;
          const { result } = await ingestFileset({ base_url, force_recrawl: true }, rt.deps);
          statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
          FilesetResultSchema.parse(result);
          expect(result.status, result.error_message ?? undefined).not.toBe('internal-error');
          expect(JSON.stringify(result)).not.toMatch(/\\n\s*at [\w.<]+ \(| {4}at [\w.<]+ \(/);
        },
      ),
      // A run that never ends is a defect too: fast-check fails it, with its input, past this bound.
      { numRuns: RUNS, seed: SEED, endOnFailure: true, timeout: 60_000 },
    );
    // The counts by status, for the report.
    console.log(`fuzz: ${RUNS} runs, seed ${SEED}:`, Object.fromEntries([...statuses].sort()));
  });
});

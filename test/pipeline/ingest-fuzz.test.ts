// The unexpected-error budget: generated hostile answers go through the whole pipeline against a
// local server, for every platform site (test/support/sites/<platform>.ts: Zenodo, Figshare,
// Dataverse, Dryad, OSF, archive.org, InvenioRDM) and every other recorded Zenodo record. Each case
// takes the routes a site serves for one complete dataset (recorded API answers, real or stand-in
// file bytes), mutates the JSON ones where their shape matters (fields dropped, duplicated, retyped
// or nulled, huge and negative numbers, odd hashes, `../`, absolute and unicode names, empty file
// lists, links pointing elsewhere in the same answer, which makes paging loops) and spoils any
// answer's body, coding, status and Content-Length. Defects: an internal-error, a stack trace, a
// result outside the wire schema, a local path in a result, a success whose manifest does not
// match the bytes served or whose names leave the item.
// CI runs a fixed seed and FILESET_FUZZ_RUNS cases per platform; a long campaign by hand:
//   FILESET_FUZZ_RUNS=2000 FILESET_FUZZ_SEED=<n> npx vitest run test/pipeline/ingest-fuzz.test.ts
// (FILESET_FUZZ_PLATFORM=<name> runs one platform only; FILESET_FUZZ_PATH=<path> with the same seed
// replays the failing case fast-check printed.)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestFileset } from '../../src/pipeline/ingest.js';
import { FilesetResultSchema } from '../../src/schemas/result.js';
import { STATUSES } from '../../src/schemas/statuses.js';
import type { FixtureServer, Route } from '../support/fixture-server.js';
import { testRuntime, type TestRuntime } from '../support/runtime.js';
import { loadSites } from '../support/sites/index.js';
import { FIXTURES, serveZenodoRecord } from '../support/zenodo-site.js';

const RUNS = Number(process.env.FILESET_FUZZ_RUNS ?? 15);
const SEED = Number(process.env.FILESET_FUZZ_SEED ?? 12);
const ONLY = process.env.FILESET_FUZZ_PLATFORM;
/** Replays one failure: the `path` fast-check printed with its seed. */
const PATH = process.env.FILESET_FUZZ_PATH;

const SHRINK_ABOVE = 1 << 20;
const SHRINK_TO = 64 * 1024;

/** One complete dataset as a site serves it: its routes (bodies read) and the request URL. */
interface Dataset {
  url: string;
  routes: Array<[string, Route & { body: Buffer }]>;
}

/** Runs a site's route-adding function against a recorder instead of a live server. */
function record(serve: (server: FixtureServer) => string | { url: string }): Dataset {
  const routes: Dataset['routes'] = [];
  const recorder = {
    route(path: string, route: Route) {
      const body = route.file ? readFileSync(route.file) : Buffer.from(route.body ?? '');
      routes.push([path, { ...route, body }]);
      return recorder;
    },
  };
  const served = serve(recorder as unknown as FixtureServer);
  // A case must stay cheap: a big stand-in body is cut short and the listed size changed to match
  // (a value changed, not a shape; only stand-in bytes are this big, so no recorded digest breaks).
  for (const [, route] of routes) {
    if (route.body.length <= SHRINK_ABOVE) continue;
    const size = route.body.length;
    route.body = route.body.subarray(0, SHRINK_TO);
    for (const [, other] of routes) {
      if (!/json/.test(other.headers?.['Content-Type'] ?? '')) continue;
      other.body = Buffer.from(
        other.body.toString('utf8').replace(new RegExp(`("size": ?)${size}\\b`, 'g'), `$1${SHRINK_TO}`),
      );
    }
  }
  return { url: typeof served === 'string' ? served : served.url, routes };
}

const sites = await loadSites();
const ORIGINS = [...new Set(sites.flatMap((s) => s.origins)), 'https://files.example.org'];

/** Datasets by platform: each site's complete dataset; for Zenodo also every other recorded record. */
const DATASETS = new Map<string, Dataset[]>(
  sites.map((site) => [site.platform, [record((server) => site.serveDataset(server))]]),
);
for (const name of readdirSync(join(FIXTURES, 'zenodo'))) {
  if (!/^zenodo_record_\d+.*\.json$/.test(name) || name.includes('404')) continue;
  DATASETS.get('zenodo')!.push(
    record((server) => {
      const json = JSON.parse(readFileSync(join(FIXTURES, 'zenodo', name), 'utf8')) as {
        files?: Array<{ key?: string }>;
      };
      // Stand-in bytes: their hashes do not match the record's, so these reach the mismatch paths.
      const files = Object.fromEntries((json.files ?? []).map((f, i) => [f.key ?? '', `file ${i}\n`.repeat(50)]));
      const { id } = serveZenodoRecord(server, name, { files });
      return `https://zenodo.org/records/${id}`;
    }),
  );
}

/** How one answer is spoiled. */
interface Spoil {
  body: { kind: 'as-is' } | { kind: 'truncate'; at: number } | { kind: 'random'; bytes: Uint8Array };
  encoding: string | null;
  /** Content-Length: true to the bytes sent, or off by `lie`. */
  lie: number;
  /** null: the route's own Content-Type. */
  contentType: string | null;
  /** null: the route's own status. */
  status: number | null;
}

const CLEAN: Spoil = { body: { kind: 'as-is' }, encoding: null, lie: 0, contentType: null, status: null };

const spoiledArb: fc.Arbitrary<Spoil> = fc.record({
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
    null,
    'application/json',
    'text/html',
    'application/octet-stream',
    '',
    'text/plain; charset=x',
  ),
  status: fc.constantFrom(null, null, 200, 206, 404, 410, 500, 302),
});
/** Mostly clean answers, so that mutated JSON reaches the code past the fetch. */
const spoilArb = fc.oneof({ weight: 4, arbitrary: fc.constant(CLEAN) }, { weight: 1, arbitrary: spoiledArb });

/** Values that have broken or could break file and size handling. */
const HOSTILE = [
  null,
  -1,
  -2147483649,
  0,
  2 ** 53 + 1,
  1e308,
  Number.MAX_SAFE_INTEGER,
  0.5,
  '',
  '.',
  '..',
  '../../etc/passwd',
  '/etc/passwd',
  'a/../../b',
  'C:\\x',
  'a\\..\\..\\b',
  'nul\u0000byte',
  '\u202Egnp.exe',
  'ｆｉｌｅ/ü/名前.txt',
  'a'.repeat(300),
  'md5:',
  'sha1:zz',
  'ZZ'.repeat(20),
  'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709',
  'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  'd41d8cd98f00b204e9800998ecf8427e',
  'not a url',
  'file:///etc/passwd',
  'http://127.0.0.1:1/x',
  [],
  {},
  true,
  '1e3',
  '-5',
];

type Op = 'delete' | 'replace' | 'hostile' | 'duplicate' | 'retype' | 'swap';
const mutationArb = fc.record({
  at: fc.nat(),
  op: fc.constantFrom<Op>('delete', 'replace', 'hostile', 'hostile', 'duplicate', 'retype', 'swap'),
  pick: fc.nat(),
  value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string(), fc.constant(null), fc.integer()),
});
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function retype(v: unknown): unknown {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : [v];
  if (typeof v === 'boolean') return v ? 'true' : 0;
  if (Array.isArray(v)) return Object.fromEntries(v.map((x, i) => [String(i), x]));
  if (v && typeof v === 'object') return Object.values(v);
  return 0;
}

function mutate(value: unknown, mutation: Mutation): unknown {
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
  const target = parent as Record<string | number, unknown>;
  switch (mutation.op) {
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete target[key];
      break;
    case 'replace':
      target[key] = mutation.value;
      break;
    case 'hostile':
      target[key] = structuredClone(HOSTILE[mutation.pick % HOSTILE.length]);
      break;
    case 'duplicate':
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(parent[key as number]));
      else target[`${String(key)}_`] = target[key];
      break;
    case 'retype':
      target[key] = retype(target[key]);
      break;
    case 'swap': {
      // Another value of the same answer: a link to another page, one file's name on another.
      const [otherParent, otherKey] = nodes[mutation.pick % nodes.length]!;
      target[key] = structuredClone((otherParent as Record<string | number, unknown>)[otherKey]);
      break;
    }
  }
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

interface Answer {
  route: Route & { body: Buffer };
  spoil: Spoil;
}

/** The bytes of a spoiled HTTP/1.1 answer. */
function render({ route, spoil }: Answer): Buffer {
  let body = encode(route.body, spoil.encoding);
  if (spoil.body.kind === 'truncate') body = body.subarray(0, spoil.body.at);
  if (spoil.body.kind === 'random') body = Buffer.from(spoil.body.bytes);
  const status = spoil.status ?? route.status ?? 200;
  const own = Object.entries(route.headers ?? {}).filter(([name]) => !/^content-(length|type|encoding)$/i.test(name));
  const contentType = spoil.contentType ?? route.headers?.['Content-Type'] ?? '';
  const headers = [
    `HTTP/1.1 ${status} X`,
    `Content-Length: ${Math.max(0, body.length + spoil.lie)}`,
    ...(contentType ? [`Content-Type: ${contentType}`] : []),
    ...(spoil.encoding ? [`Content-Encoding: ${spoil.encoding}`] : []),
    ...(spoil.status === 302 ? ['Location: /elsewhere'] : own.map(([name, value]) => `${name}: ${value}`)),
    'Connection: close',
  ];
  return Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

function lookup(plan: Map<string, Answer>, target: string): Answer | undefined {
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return plan.get(target) ?? plan.get(decode(target)) ?? plan.get(decode(target.split('?')[0]!));
}

/** Answers every request from the current plan, as the fixture server matches paths, else 404. */
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
        const answer = lookup(this.plan, head.split(' ')[1] ?? '/');
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

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

let server: PlanServer;
let rt: TestRuntime;

beforeAll(async () => {
  server = new PlanServer();
  const origin = await server.start();
  rt = await testRuntime(origin, { FILESET_HTTP_RETRIES: '1', FILESET_HTTP_BODY_TIMEOUT_MS: '1500' }, ORIGINS);
});

afterAll(async () => {
  await rt?.dispose();
  await server?.close();
});

const platforms = [...DATASETS.keys()].filter((p) => !ONLY || p === ONLY).sort();

describe.each(platforms)('generated hostile answers: %s', (platform) => {
  const datasets = DATASETS.get(platform)!;
  const statuses = new Map<string, number>();

  it(
    `never end in internal-error, a stack, a local path or a manifest that lies (${RUNS} runs, seed ${SEED})`,
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: datasets.length - 1 }),
          fc.array(fc.tuple(fc.nat(), mutationArb), { maxLength: 4 }),
          fc.array(spoilArb, { minLength: 1, maxLength: 6 }),
          fc.boolean(),
          fc.nat({ max: 9 }),
          async (which, mutations, spoils, asFileCoin, asFileDice) => {
            const dataset = datasets[which]!;
            const jsonRoutes = dataset.routes
              .map(([, route], i) => [i, route] as const)
              .filter(([, route]) => /json/.test(route.headers?.['Content-Type'] ?? ''));
            const bodies = dataset.routes.map(([, route]) => route.body);
            for (const [n, mutation] of mutations) {
              if (!jsonRoutes.length) break;
              const i = jsonRoutes[n % jsonRoutes.length]![0];
              try {
                const json = JSON.parse(bodies[i]!.toString('utf8')) as unknown;
                bodies[i] = Buffer.from(JSON.stringify(mutate(json, mutation)));
              } catch {
                // A recorded body that is not JSON stays as recorded.
              }
            }
            server.plan = new Map(
              dataset.routes.map(([path, route], i) => [
                path,
                { route: { ...route, body: bodies[i]! }, spoil: spoils[i % spoils.length]! },
              ]),
            );
            server.plan.set('/data.bin', {
              route: { body: Buffer.from('a,b\n1,2\n'), headers: { 'Content-Type': 'text/csv' } },
              spoil: spoils[0]!,
            });
            const asFile = asFileCoin && asFileDice === 0;
            const base_url = asFile ? 'https://files.example.org/data.bin' : dataset.url;
            const { result } = await ingestFileset({ base_url, force_recrawl: true }, rt.deps);
            statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);

            FilesetResultSchema.parse(result);
            expect(STATUSES).toContain(result.status);
            expect(result.status, result.error_message ?? undefined).not.toBe('internal-error');
            const text = JSON.stringify(result);
            expect(text).not.toMatch(/\\n\s*at [\w.<]+ \(| {4}at [\w.<]+ \(/);
            for (const s of strings(result)) {
              expect(s).not.toContain(rt.dataDir);
              expect(s).not.toContain(tmpdir());
            }
            if (result.status.startsWith('success')) {
              const served = new Set(
                [...server.plan.values()].flatMap(({ route, spoil }) => {
                  const sent = render({ route, spoil });
                  const body = sent.subarray(sent.indexOf('\r\n\r\n') + 4);
                  return [`${sha1(route.body)}:${route.body.length}`, `${sha1(body)}:${body.length}`];
                }),
              );
              for (const entry of result.manifest ?? []) {
                expect(entry.path, `${result.ingest_strategy ?? ''} ${result.status}`).not.toMatch(
                  /^[/\\]|^[A-Za-z]:|(^|[/\\])\.\.([/\\]|$)|\0/,
                );
                if (entry.status === 'success' && result.status !== 'success-existing') {
                  expect(served, `${entry.path} archived as ${entry.sha1}:${entry.size}`).toContain(
                    `${entry.sha1}:${entry.size}`,
                  );
                }
              }
            }
          },
        ),
        // A run that never ends is a defect too: fast-check fails it, with its input, past this bound.
        { numRuns: RUNS, seed: SEED, endOnFailure: true, timeout: 60_000, ...(PATH ? { path: PATH } : {}) },
      );
      // The counts by status, for the report.
      console.log(`fuzz ${platform}: ${RUNS} runs, seed ${SEED}:`, Object.fromEntries([...statuses].sort()));
    },
    240_000 + RUNS * 2_000,
  );
});

// A local server (port 0) speaking the subset of archive.org's IAS3 upload API and metadata API that
// the ias3 item store uses, with bytes in a temp dir and the catalogue in memory:
//   PUT  /<item>/<path>          LOW auth (403 AccessDenied), x-archive-auto-make-bucket (404 NoSuchBucket
//                                for a new item without it), Content-MD5 (400 BadDigest),
//                                x-archive-keep-old-version (old file moved to history/files/<path>.~N~),
//                                x-archive-meta*-<name> on item creation, x-archive-filemeta*-<name> per file
//   PUT  /<item>                 creates an item from its x-archive-meta headers (409 when it exists)
//   POST /metadata/<item>        metadata write API: -target=metadata, -patch, access, secret
//   GET  /metadata/<item>        archive.org's shape (test/fixtures/archiveorg/nawarian-test.json): `{}` when unknown
//   GET  /download/<item>/<path> 302 to /serve/... (a data node), which streams the bytes
// archive.org derives each file's `format` from its name; this server leaves `format` out (seeded
// items keep theirs), so a listing holds exactly what the client sent. Failures can be injected:
// N answers of 503 SlowDown (or any status), or a PUT whose connection drops after the body was stored.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface RecordedRequest {
  method: string;
  /** The decoded path, e.g. `/item/dir/données.json`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Request bodies of metadata writes (form-encoded), for assertions. */
  body?: string;
}

export interface InjectedFailure {
  status: number;
  code: string;
  message?: string;
  retryAfter?: string;
}

type Metadata = Record<string, string | string[]>;

interface StoredFile {
  name: string;
  source: string;
  mtime: string;
  size: string;
  md5: string;
  sha1: string;
  format?: string;
  /** File-level metadata sent as x-archive-filemeta-* headers. */
  extra: Metadata;
  blob: string | null;
}

interface StoredItem {
  created: number;
  metadata: Metadata;
  files: Map<string, StoredFile>;
}

export class Ias3Server {
  readonly requests: RecordedRequest[] = [];
  readonly items = new Map<string, StoredItem>();
  #failures: Array<{ method: string; failure: InjectedFailure }> = [];
  #drops = 0;
  #serial = 0;

  private constructor(
    private readonly server: Server,
    private readonly dir: string,
    private readonly accessKey: string,
    private readonly secretKey: string,
  ) {}

  static async start(credentials: { accessKey: string; secretKey: string }): Promise<Ias3Server> {
    const dir = await mkdtemp(join(tmpdir(), 'ias3-server-'));
    const server = createServer();
    const ias3 = new Ias3Server(server, dir, credentials.accessKey, credentials.secretKey);
    server.on('request', (req, res) => {
      ias3.#handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) s3Error(res, 500, 'InternalError', String(err));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return ias3;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next `times` requests with `method` get `failure` instead of an answer. */
  failNext(method: string, times: number, failure: InjectedFailure): void {
    for (let i = 0; i < times; i++) this.#failures.push({ method, failure });
  }

  /** The next `times` file PUTs store their body, then drop the connection without answering. */
  dropAfterStore(times: number): void {
    this.#drops += times;
  }

  /** Serves a recorded /metadata answer (files without bytes) under its identifier. */
  seed(recorded: {
    created?: number;
    metadata: Metadata & { identifier: string };
    files: Array<Record<string, string>>;
  }): void {
    const files = new Map<string, StoredFile>();
    for (const { name, source, mtime, size, md5, sha1, format, ...extra } of recorded.files) {
      files.set(name!, {
        name: name!,
        source: source ?? 'original',
        mtime: mtime ?? '0',
        size: size ?? '0',
        md5: md5 ?? '',
        sha1: sha1 ?? '',
        format,
        extra,
        blob: null,
      });
    }
    this.items.set(recorded.metadata.identifier, {
      created: recorded.created ?? 0,
      metadata: { ...recorded.metadata },
      files,
    });
  }

  /** The requests made, as `METHOD path`. */
  calls(method?: string): string[] {
    return this.requests.filter((r) => !method || r.method === method).map((r) => `${r.method} ${r.path}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.dir, { recursive: true, force: true });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ias3.invalid');
    const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: `/${segments.join('/')}`,
      headers: req.headers,
    };
    this.requests.push(recorded);
    const injected = this.#failures.findIndex((f) => f.method === req.method);
    if (injected >= 0) {
      const { failure } = this.#failures.splice(injected, 1)[0]!;
      await drain(req);
      return s3Error(
        res,
        failure.status,
        failure.code,
        failure.message ?? 'Please reduce your request rate.',
        failure.retryAfter,
      );
    }
    const [first = '', ...rest] = segments;
    if (req.method === 'GET' && first === 'metadata' && rest.length === 1) return this.#metadata(res, rest[0]!);
    if (req.method === 'POST' && first === 'metadata' && rest.length === 1)
      return this.#writeMetadata(req, res, rest[0]!, recorded);
    if (req.method === 'GET' && first === 'download' && rest.length >= 2)
      return this.#download(res, rest[0]!, rest.slice(1).join('/'), url.pathname);
    if (req.method === 'GET' && first === 'serve' && rest.length >= 2)
      return this.#serve(res, rest[0]!, rest.slice(1).join('/'));
    if (req.method === 'PUT' && segments.length === 1 && first) return this.#createBucket(req, res, first);
    if (req.method === 'PUT' && segments.length >= 2) return this.#putFile(req, res, first, rest.join('/'));
    await drain(req);
    s3Error(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname}`);
  }

  #authorised(req: IncomingMessage): boolean {
    return req.headers.authorization === `LOW ${this.accessKey}:${this.secretKey}`;
  }

  #newItem(item: string, headers: IncomingHttpHeaders): StoredItem {
    const now = new Date().toISOString().replace('T', ' ').slice(0, 19);
    const metadata: Metadata = {
      identifier: item,
      mediatype: 'data',
      uploader: 'ias3-test@example.org',
      addeddate: now,
      publicdate: now,
      ...archiveMeta(headers, 'meta'),
    };
    const created: StoredItem = { created: Math.floor(Date.now() / 1000), metadata, files: new Map() };
    this.items.set(item, created);
    return created;
  }

  async #createBucket(req: IncomingMessage, res: ServerResponse, item: string): Promise<void> {
    await drain(req);
    if (!this.#authorised(req)) return s3Error(res, 403, 'AccessDenied', 'Access Denied');
    if (this.items.has(item)) return s3Error(res, 409, 'BucketAlreadyExists', `${item} already exists`);
    this.#newItem(item, req.headers);
    res.writeHead(200, { 'content-length': '0' }).end();
  }

  async #putFile(req: IncomingMessage, res: ServerResponse, item: string, name: string): Promise<void> {
    if (!this.#authorised(req)) return void (await drain(req), s3Error(res, 403, 'AccessDenied', 'Access Denied'));
    if (!this.items.has(item) && req.headers['x-archive-auto-make-bucket'] !== '1') {
      return void (await drain(req), s3Error(res, 404, 'NoSuchBucket', `no such item ${item}`));
    }
    const blob = join(this.dir, `blob-${++this.#serial}-${randomBytes(4).toString('hex')}`);
    const md5 = createHash('md5');
    const sha1 = createHash('sha1');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        md5.update(chunk);
        sha1.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    try {
      await pipeline(req, hashing, createWriteStream(blob));
    } catch {
      await rm(blob, { force: true });
      return; // the client went away mid-body: nothing is stored
    }
    const digest = md5.digest();
    const declared = req.headers['content-md5'];
    if (declared !== undefined && declared !== digest.toString('base64')) {
      await rm(blob, { force: true });
      return s3Error(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
    const stored = this.items.get(item) ?? this.#newItem(item, req.headers);
    const previous = stored.files.get(name);
    if (previous && req.headers['x-archive-keep-old-version'] === '1') {
      let version = 1;
      while (stored.files.has(`history/files/${name}.~${version}~`)) version++;
      const kept = `history/files/${name}.~${version}~`;
      stored.files.set(kept, { ...previous, name: kept });
    }
    const mtime = String(Math.floor(Date.now() / 1000));
    stored.files.set(name, {
      name,
      source: 'original',
      mtime,
      size: String(size),
      md5: digest.toString('hex'),
      sha1: sha1.digest('hex'),
      extra: archiveMeta(req.headers, 'filemeta'),
      blob,
    });
    if (this.#drops > 0) {
      this.#drops--;
      req.socket.destroy(); // stored, but the answer is lost
      return;
    }
    res.writeHead(200, { etag: `"${digest.toString('hex')}"`, 'content-length': '0' }).end();
  }

  #metadata(res: ServerResponse, item: string): void {
    const stored = this.items.get(item);
    const body = stored ? JSON.stringify(this.#view(item, stored)) : '{}';
    res
      .writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
      .end(body);
  }

  /** archive.org's /metadata answer: data files plus the item's own _meta.xml and _files.xml. */
  #view(item: string, stored: StoredItem) {
    const files: Array<Record<string, unknown>> = [...stored.files.values()].map(
      ({ blob: _blob, extra, format, ...file }) => ({
        ...file,
        ...(format ? { format } : {}),
        ...extra,
      }),
    );
    const metaXml = Buffer.from(JSON.stringify(stored.metadata));
    const hex = (alg: string, bytes: Buffer) => createHash(alg).update(bytes).digest('hex');
    if (!stored.files.has(`${item}_meta.xml`)) {
      files.push(
        {
          name: `${item}_meta.xml`,
          source: 'original',
          mtime: String(stored.created),
          size: String(metaXml.length),
          format: 'Metadata',
          md5: hex('md5', metaXml),
          sha1: hex('sha1', metaXml),
        },
        {
          name: `${item}_files.xml`,
          source: 'original',
          format: 'Metadata',
          md5: hex('md5', Buffer.from(JSON.stringify(files))),
        },
      );
    }
    const itemSize = files.reduce((total, f) => total + Number(f.size ?? 0), 0);
    const host = `ia-local-${item.length}.invalid`;
    return {
      created: stored.created,
      d1: host,
      dir: `/0/items/${item}`,
      files,
      files_count: files.length,
      item_size: itemSize,
      metadata: stored.metadata,
      server: host,
      uniq: 1,
      workable_servers: [host],
    };
  }

  async #writeMetadata(
    req: IncomingMessage,
    res: ServerResponse,
    item: string,
    recorded: RecordedRequest,
  ): Promise<void> {
    const form = new URLSearchParams((recorded.body = await readForm(req)));
    const answer = (status: number, body: object) => {
      const text = JSON.stringify(body);
      res
        .writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) })
        .end(text);
    };
    if (form.get('access') !== this.accessKey || form.get('secret') !== this.secretKey)
      return answer(403, { success: false, error: 'You do not have privileges to write this item.' });
    const stored = this.items.get(item);
    if (!stored) return answer(400, { success: false, error: `${item} not found` });
    if (form.get('-target') !== 'metadata')
      return answer(400, { success: false, error: 'only -target=metadata is served here' });
    let patch: Array<{ op: string; path: string; value?: string | string[] }>;
    try {
      patch = JSON.parse(form.get('-patch') ?? '') as typeof patch;
    } catch {
      return answer(400, { success: false, error: 'the -patch is not JSON' });
    }
    const next: Metadata = { ...stored.metadata };
    for (const { op, path, value } of patch) {
      const key = path.slice(1).replaceAll('~1', '/').replaceAll('~0', '~');
      if ((op === 'replace' || op === 'remove') && !(key in next))
        return answer(400, { success: false, error: `${op}: no ${key}` });
      if (op === 'remove') delete next[key];
      else if ((op === 'add' || op === 'replace') && value !== undefined) next[key] = value;
      else return answer(400, { success: false, error: `unsupported patch operation ${op}` });
    }
    if (JSON.stringify(next) === JSON.stringify(stored.metadata))
      return answer(400, { success: false, error: 'no changes to _meta.xml' });
    stored.metadata = next;
    answer(200, { success: true, task_id: ++this.#serial, log: `https://catalogd.archive.org/log/${this.#serial}` });
  }

  #download(res: ServerResponse, item: string, name: string, rawPath: string): void {
    if (!this.items.get(item)?.files.has(name)) return s3Error(res, 404, 'NoSuchKey', `no ${name} in ${item}`);
    res.writeHead(302, { location: rawPath.replace(/^\/download\//, '/serve/'), 'content-length': '0' }).end();
  }

  #serve(res: ServerResponse, item: string, name: string): void {
    const file = this.items.get(item)?.files.get(name);
    if (!file?.blob) return s3Error(res, 404, 'NoSuchKey', `no ${name} in ${item}`);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size });
    createReadStream(file.blob).pipe(res);
  }
}

/** `x-archive-<kind>[NN]-<name>` headers as archive.org stores them: `--` is `_`, `uri(...)` is percent-encoded. */
function archiveMeta(headers: IncomingHttpHeaders, kind: 'meta' | 'filemeta'): Metadata {
  const fields = new Map<string, Array<[number, string]>>();
  const pattern = new RegExp(`^x-(?:archive|amz)-${kind}(\\d\\d)?-(.+)$`);
  for (const [header, raw] of Object.entries(headers)) {
    const match = pattern.exec(header);
    if (!match || typeof raw !== 'string') continue;
    const key = match[2]!.replaceAll('--', '_');
    const value = /^uri\((.*)\)$/.exec(raw)?.[1];
    const values = fields.get(key) ?? [];
    values.push([Number(match[1] ?? 0), value === undefined ? raw : decodeURIComponent(value)]);
    fields.set(key, values);
  }
  const out: Metadata = {};
  for (const [key, values] of fields) {
    const sorted = values.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
    out[key] = sorted.length === 1 ? sorted[0]! : sorted;
  }
  return out;
}

/** Reads and discards a request body, so an early answer does not break the client's upload. */
async function drain(req: IncomingMessage): Promise<void> {
  for await (const _chunk of req);
}

/** A small request body (a form), at most 1 MiB. */
async function readForm(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > 1 << 20) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function s3Error(res: ServerResponse, status: number, code: string, message: string, retryAfter?: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><Resource></Resource><RequestId>ias3-local</RequestId></Error>`;
  const headers: Record<string, string> = {
    'content-type': 'application/xml',
    'content-length': String(Buffer.byteLength(body)),
  };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  res.writeHead(status, headers).end(body);
}

// The `ias3` item store: archive.org items, written through IAS3 (archive.org's S3-like upload API)
// and read through its metadata API. Protocol as the IAS3 guide describes it (github.com/vmbrasseur/
// IAS3API headers.md, metadata.md) and the internetarchive Python library speaks it (iarequest.py,
// auth.py; `ia upload` retries "503 SlowDown" and keeps clobbered files as history/files/<name>.~N~):
//
//   PUT  <endpoint>/<item>/<path>   a file: `authorization: LOW key:secret`, x-archive-auto-make-bucket: 1,
//                                   x-archive-queue-derive: 0, x-archive-size-hint, Content-MD5 (the
//                                   server checks it: 400 BadDigest), x-archive-keep-old-version: 1 when
//                                   it replaces a file (archive.org moves the old one to history/files/)
//   PUT  <endpoint>/<item>          creates an item with x-archive-meta-<name> headers (setMetadata on a
//                                   new item); repeated values as x-archive-meta01-<name>, meta02, ...
//   POST <metadataUrl>/metadata/<item>   metadata write API: -target=metadata, -patch (JSON patch), access, secret
//   GET  <metadataUrl>/metadata/<item>   files and metadata (`{}`: no such item)
//   GET  <metadataUrl>/download/<item>/<path>   the bytes (archive.org redirects to a data node)
//
// Notes are files `_fileset_notes/<unix ts>[-<n>].json` in the item; listFiles never lists them. The
// mimetype we were given travels as file-level metadata (`x-archive-filemeta-fileset--mimetype`, the
// library's `file_metadata`) because archive.org's own `format` is derived from the file name.
// archive.org computes no sha256, so files list sha256 null. archive.org applies uploads through a
// task queue: its metadata API can lag an upload, so a file whose task is still queued is not seen as
// landed and may be sent again (identical bytes: harmless).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import {
  ArchiveItemSchema,
  downloadPath,
  formatMimetype,
  isSystemName,
  type ArchiveItem,
} from '../../archiveorg-rules.js';
import { type Config } from '../../config.js';
import { ConfigError, InfrastructureError, ItemUploadError, TransientError } from '../../errors.js';
import { RETRYABLE_STATUSES, errorCode, isTransferError } from '../../http/failures.js';
import { retry, retryAfterDelay } from '../../retry.js';
import type { Logger } from '../../logger.js';
import { createItemStore } from './item-store.js';
import type { ItemBackend, ItemFile, ItemStore, PutFile } from './types.js';

const METADATA_KEY = /^[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*$/;
const NOTES_DIR = '_fileset_notes/';
const MAX_DELAY_MS = 120_000;

export interface Ias3ItemStoreOptions {
  ias3: Config['ias3'];
  logger: Logger;
  userAgent: string;
  now?: () => Date;
  retryBaseDelayMs?: number;
  /** Retries after the first attempt (503/SlowDown, 5xx, connection errors) before InfrastructureError. */
  retries?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function createIas3ItemStore(options: Ias3ItemStoreOptions): ItemStore {
  const { accessKey, secretKey } = options.ias3;
  if (!accessKey || !secretKey)
    throw new ConfigError('the ias3:// item store needs FILESET_IAS3_ACCESS_KEY and FILESET_IAS3_SECRET_KEY');
  return createItemStore(new Ias3Backend(options, accessKey, secretKey), options.now ? { now: options.now } : {});
}

interface SendOptions {
  method: 'GET' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
}

type Body = { stream: () => Readable } | { bytes: Buffer };

class Ias3Backend implements ItemBackend {
  readonly kind = 'ias3';
  readonly #agent = new Agent({ connectTimeout: 15_000, headersTimeout: 600_000, bodyTimeout: 300_000 });
  /** Reads follow archive.org's redirect from /download/ to a data node; writes never redirect. */
  readonly #reader: Dispatcher = this.#agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  readonly #log: Logger;
  readonly #endpoint: string;
  readonly #metadataUrl: string;

  constructor(
    private readonly options: Ias3ItemStoreOptions,
    private readonly accessKey: string,
    private readonly secretKey: string,
  ) {
    this.#log = options.logger.child({ store: 'ias3' });
    this.#endpoint = options.ias3.endpoint.replace(/\/+$/, '');
    this.#metadataUrl = options.ias3.metadataUrl.replace(/\/+$/, '');
  }

  async listFiles(item: string, signal?: AbortSignal): Promise<ItemFile[]> {
    const found = await this.#retrying(`list ${item}`, signal, () => this.#fetchItem(item, signal));
    return found ? listed(found, item) : [];
  }

  /** archive.org keeps the version a put replaces itself (history/files/), so `_previousVersion` is not needed. */
  async putFile(item: string, file: PutFile, _previousVersion: string, signal?: AbortSignal): Promise<void> {
    if (isReserved(item, file.path))
      throw new ItemUploadError(`${file.path} is a name archive.org or this store reserves in item ${item}`);
    const headers: Record<string, string> = { 'x-archive-size-hint': String(file.size) };
    if (file.mimetype) Object.assign(headers, metaHeaders('filemeta', { fileset_mimetype: file.mimetype }));
    await this.#upload(item, file.path, file, { stream: () => createReadStream(file.source) }, headers, signal);
  }

  async readFile(item: string, path: string): Promise<Readable> {
    const url = `${this.#metadataUrl}${downloadPath(item, path)}`;
    return this.#retrying(`read ${item}/${path}`, undefined, async () => {
      const response = await this.#send(url, { method: 'GET', dispatcher: this.#reader });
      if (response.statusCode === 200) return response.body;
      if (response.statusCode === 404) {
        await response.body.dump();
        throw Object.assign(new Error(`no file ${path} in archive.org item ${item}`), { code: 'ENOENT' });
      }
      throw await this.#failure(response, `GET ${url}`, InfrastructureError);
    });
  }

  async setMetadata(item: string, metadata: Record<string, unknown>): Promise<void> {
    const wanted = normaliseMetadata(metadata);
    await this.#retrying(`set metadata of ${item}`, undefined, async () => {
      const current = await this.#fetchItem(item);
      if (!current) return this.#createItem(item, wanted);
      const patch = metadataPatch(current.metadata, wanted);
      if (patch.length === 0) return; // the write API refuses a write that changes nothing
      await this.#writeMetadata(item, patch);
    });
  }

  async getMetadata(item: string): Promise<Record<string, unknown> | null> {
    const found = await this.#retrying(`read metadata of ${item}`, undefined, () => this.#fetchItem(item));
    return found ? { ...found.metadata } : null;
  }

  /** A note is a file `_fileset_notes/<name>` of the item; a name taken by other bytes is refused (false). */
  async createNote(item: string, name: string, body: Buffer): Promise<boolean> {
    const digest = (alg: string) => createHash(alg).update(body).digest('hex');
    const path = `${NOTES_DIR}${name}`;
    const file = { size: body.length, md5: digest('md5'), sha1: digest('sha1') };
    const found = await this.#retrying(`list notes of ${item}`, undefined, () => this.#fetchItem(item));
    const there = found?.files.find((f) => f.name === path);
    // The same bytes there already: an earlier attempt of this very note.
    if (there && !(Number(there.size) === file.size && there.md5?.toLowerCase() === file.md5)) return false;
    await this.#upload(
      item,
      path,
      file,
      { bytes: body },
      metaHeaders('filemeta', { fileset_mimetype: 'application/json' }),
    );
    return true;
  }

  async noteNames(item: string): Promise<string[]> {
    const found = await this.#retrying(`list notes of ${item}`, undefined, () => this.#fetchItem(item));
    return (found?.files ?? []).flatMap((f) => (f.name.startsWith(NOTES_DIR) ? [f.name.slice(NOTES_DIR.length)] : []));
  }

  async readNote(item: string, name: string): Promise<Buffer | null> {
    try {
      return Buffer.concat(await (await this.readFile(item, `${NOTES_DIR}${name}`)).toArray());
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return null;
      throw err;
    }
  }

  locate(item: string, path?: string): string {
    const id = encodeURIComponent(item);
    return path === undefined
      ? `${this.#metadataUrl}/details/${id}`
      : `${this.#metadataUrl}${downloadPath(item, path)}`;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  /**
   * One file into the item, retried as a whole: each attempt first asks the metadata API whether the
   * file already landed (a retry after a lost response, or a run that crashed after uploading) and
   * skips it when the path is there with the same size and md5.
   */
  async #upload(
    item: string,
    path: string,
    file: { size: number; md5: string },
    body: Body,
    extra: Record<string, string>,
    signal?: AbortSignal,
  ) {
    const url = `${this.#endpoint}/${encodeURIComponent(item)}/${encodePath(path)}`;
    await this.#retrying(`upload ${item}/${path}`, signal, async () => {
      const current = await this.#fetchItem(item, signal);
      const there = current?.files.find((f) => f.name === path);
      if (there && Number(there.size) === file.size && there.md5?.toLowerCase() === file.md5.toLowerCase()) {
        this.#log.debug({ item, path }, 'ias3: already in the item, not uploading again');
        return;
      }
      const headers: Record<string, string> = {
        ...this.#writeHeaders(),
        ...extra,
        'content-length': String(file.size),
        'content-md5': Buffer.from(file.md5, 'hex').toString('base64'),
      };
      if (there) headers['x-archive-keep-old-version'] = '1';
      const response = await this.#send(url, {
        method: 'PUT',
        headers,
        body: 'bytes' in body ? body.bytes : body.stream(),
        signal,
      });
      if (response.statusCode >= 200 && response.statusCode < 300) return void (await response.body.dump());
      throw await this.#failure(response, `PUT ${url}`, ItemUploadError);
    });
  }

  async #createItem(item: string, metadata: Map<string, string[]>): Promise<void> {
    const url = `${this.#endpoint}/${encodeURIComponent(item)}`;
    const headers = {
      ...this.#writeHeaders(),
      ...metaHeaders('meta', Object.fromEntries(metadata)),
      'content-length': '0',
    };
    const response = await this.#send(url, { method: 'PUT', headers, body: '' });
    if (response.statusCode >= 200 && response.statusCode < 300) return void (await response.body.dump());
    // 409: created meanwhile (another upload's auto-make-bucket); the next attempt patches it.
    if (response.statusCode !== 409) throw await this.#failure(response, `PUT ${url}`, ItemUploadError);
    await response.body.dump();
    throw new TransientError(`item ${item} appeared while it was being created`, { retryAfterMs: 0 });
  }

  async #writeMetadata(item: string, patch: PatchOp[]): Promise<void> {
    const url = `${this.#metadataUrl}/metadata/${encodeURIComponent(item)}`;
    const form = new URLSearchParams({
      '-target': 'metadata',
      '-patch': JSON.stringify(patch),
      priority: '-5',
      access: this.accessKey,
      secret: this.secretKey,
    });
    const headers = { 'content-type': 'application/x-www-form-urlencoded' };
    const response = await this.#send(url, { method: 'POST', headers, body: form.toString() });
    if (response.statusCode !== 200) throw await this.#failure(response, `POST ${url}`, ItemUploadError);
    const answer = (await response.body.json().catch(() => null)) as { success?: boolean; error?: string } | null;
    if (answer?.success !== true)
      throw new ItemUploadError(
        this.#scrub(`archive.org refused the metadata of ${item}: ${answer?.error ?? 'no answer'}`),
      );
  }

  /** The item as the metadata API shows it, or null when it does not exist (`{}`). */
  async #fetchItem(item: string, signal?: AbortSignal): Promise<ArchiveItem | null> {
    const url = `${this.#metadataUrl}/metadata/${encodeURIComponent(item)}`;
    const response = await this.#send(url, { method: 'GET', dispatcher: this.#reader, signal });
    if (response.statusCode !== 200) throw await this.#failure(response, `GET ${url}`, InfrastructureError);
    const json = (await response.body.json().catch((err: unknown) => {
      throw new TransientError(`unreadable answer from ${url}`, { cause: err });
    })) as unknown;
    if (json && typeof json === 'object' && Object.keys(json).length === 0) return null;
    const parsed = ArchiveItemSchema.safeParse(json);
    if (!parsed.success) throw new InfrastructureError(`unexpected answer from ${url}: ${parsed.error.message}`);
    return parsed.data;
  }

  #writeHeaders(): Record<string, string> {
    return {
      authorization: `LOW ${this.accessKey}:${this.secretKey}`,
      'x-archive-auto-make-bucket': '1',
      'x-archive-queue-derive': '0',
    };
  }

  async #send(url: string, options: SendOptions): Promise<Dispatcher.ResponseData> {
    const headers = { 'user-agent': this.options.userAgent, ...options.headers };
    try {
      return await request(url, { dispatcher: this.#agent, ...options, headers });
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (isTransferError(err))
        throw new TransientError(`connection to ${new URL(url).host} failed: ${errorCode(err)}`, { cause: err });
      throw new InfrastructureError(this.#scrub(`archive.org request failed: ${(err as Error).message}`), {
        cause: err,
      });
    }
  }

  /** The error for an unsuccessful answer: retryable for overload and 5xx, else `refused`. */
  async #failure(
    response: Dispatcher.ResponseData,
    what: string,
    refused: new (message: string) => Error,
  ): Promise<Error> {
    const text = await readSome(response.body, 64 * 1024);
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? (code ? undefined : text.slice(0, 300).trim());
    const detail = this.#scrub(
      `${what} answered ${response.statusCode}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`,
    );
    if (RETRYABLE_STATUSES.has(response.statusCode) || code === 'SlowDown') {
      const header = response.headers['retry-after'];
      const now = (this.options.now ?? (() => new Date()))().getTime();
      return new TransientError(detail, {
        retryAfterMs: retryAfterDelay(Array.isArray(header) ? header[0] : header, now),
      });
    }
    return new refused(detail);
  }

  /** `attempt`, again after transient failures (Retry-After honoured); InfrastructureError once they run out. */
  async #retrying<T>(what: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    try {
      return await retry(attempt, {
        retries: this.options.retries ?? 5,
        backoff: { baseMs: this.options.retryBaseDelayMs ?? 2000, maxMs: MAX_DELAY_MS, jitter: true },
        retryable: (err) => err instanceof TransientError && (err.retryAfterMs ?? true),
        onRetry: (err, n, delayMs) =>
          this.#log.warn({ attempt: n + 1, delayMs, reason: (err as Error).message }, `ias3: will retry: ${what}`),
        ...(signal ? { signal } : {}),
        ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
      });
    } catch (err) {
      // A transient failure that got this far was the last of them.
      if (err instanceof TransientError) {
        throw new InfrastructureError(
          `archive.org: could not ${what} after ${(this.options.retries ?? 5) + 1} attempts: ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Removes the credentials from text that came back from a server. */
  #scrub(text: string): string {
    return text.split(this.secretKey).join('[redacted]').split(encodeURIComponent(this.secretKey)).join('[redacted]');
  }
}

type PatchOp = { op: 'add' | 'replace'; path: string; value: string | string[] } | { op: 'remove'; path: string };

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Paths a dataset file may not take: our notes, archive.org's history folder and its own files. */
function isReserved(item: string, path: string): boolean {
  return path.startsWith(NOTES_DIR) || path.startsWith('history/') || isSystemName(item, path);
}

/** The uploader's files: originals, minus archive.org's own files, its history/ and our notes. */
function listed(found: ArchiveItem, item: string): ItemFile[] {
  const files: ItemFile[] = [];
  for (const f of found.files) {
    if (f.source !== 'original' || isReserved(item, f.name)) continue;
    const size = Number(f.size);
    if (!Number.isSafeInteger(size) || !f.md5 || !f.sha1) continue; // not yet processed by archive.org
    const mimetype = f.fileset_mimetype ?? formatMimetype(f.format);
    files.push({ path: f.name, size, md5: f.md5.toLowerCase(), sha1: f.sha1.toLowerCase(), sha256: null, mimetype });
  }
  return files;
}

/** Metadata values as archive.org keeps them: strings, repeated fields as lists; `identifier` is not ours to set. */
function normaliseMetadata(metadata: Record<string, unknown>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [key, value] of Object.entries(metadata)) {
    if (key === 'identifier' || value === undefined || value === null) continue;
    if (!METADATA_KEY.test(key))
      throw new ItemUploadError(`not an archive.org metadata field name: ${JSON.stringify(key)}`);
    const values = (Array.isArray(value) ? value : [value])
      .filter((v) => v !== undefined && v !== null && v !== '')
      .map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
    if (values.length) out.set(key, values);
  }
  return out;
}

/** `x-archive-<kind>-<name>` headers; repeated values numbered from 01; `_` written `--` (no `_` in header names). */
export function metaHeaders(
  kind: 'meta' | 'filemeta',
  metadata: Record<string, string | string[]>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    const values = Array.isArray(value) ? value : [value];
    const name = key.toLowerCase().replaceAll('_', '--');
    values.forEach((v, i) => {
      const index = values.length > 1 ? String(i + 1).padStart(2, '0') : '';
      headers[`x-archive-${kind}${index}-${name}`] = headerValue(v);
    });
  }
  return headers;
}

/** Header values are ASCII: anything else goes as `uri(<percent-encoded UTF-8>)`, as archive.org accepts. */
function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) && value.trim() === value ? value : `uri(${encodeURIComponent(value)})`;
}

/** JSON patch from archive.org's current metadata to the wanted fields (fields not named are left alone). */
function metadataPatch(current: Record<string, unknown>, wanted: Map<string, string[]>): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const [key, values] of wanted) {
    const value = values.length === 1 ? values[0]! : values;
    const path = `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (!(key in current)) ops.push({ op: 'add', path, value });
    else if (JSON.stringify(current[key]) !== JSON.stringify(value)) ops.push({ op: 'replace', path, value });
  }
  return ops;
}

/** Up to `limit` bytes of an error body as text; the rest is discarded. */
async function readSome(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      if ((length += (chunk as Buffer).length) >= limit) break;
    }
  } catch {
    // a body cut short still tells us the status
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

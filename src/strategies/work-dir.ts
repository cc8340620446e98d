// The archiveorg-* strategies' working directory: a disk budget, resumable downloads that hash
// md5, sha1 and sha256 as they write, and completed downloads that survive a crash before upload.
//
// Work files of item I and manifest path P live in three trees, so that no suffix can collide with
// another manifest path (`P.part` may itself be a manifest path):
//   <workDir>/I/part/P    bytes received so far; resumed with Range after a dropped connection or a crash
//   <workDir>/I/done/P    a complete, verified file waiting for upload
//   <workDir>/I/hashes/P  its hashes and where it came from (JSON), written before done/P appears
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BodyTooLargeError, describeError, InfrastructureError, IngestError } from '../errors.js';
import { contentDecoder, discard } from '../http/body.js';
import type { HttpResponse } from '../http/client.js';
import { followRedirects } from '../http/redirects.js';
import { chooseMimetype } from '../mimetype.js';
import { abortable, backoffDelay } from '../retry.js';
import type { PlatformFile } from '../platforms/types.js';
import type { FileMeta, Terminal } from '../schemas/index.js';
import type { FileStatus } from '../schemas/statuses.js';
import { warcDatetime } from '../capture/web-capture.js';
import type { StrategyContext } from './types.js';
import { verifyFile } from './verify.js';
import { wireEntry, type FileOutcome } from './outcomes.js';

/** The three work paths of one manifest path (see the top of this file). */
export function workPaths(workDir: string, itemName: string, path: string) {
  const item = join(workDir, itemName);
  return { item, part: join(item, 'part', path), done: join(item, 'done', path), hashes: join(item, 'hashes', path) };
}
export type WorkPaths = ReturnType<typeof workPaths>;

/** A verified local copy of a file (at done/P), ready for upload; also the sidecar's content. */
export interface Fetched {
  meta: FileMeta;
  terminal: Terminal;
}

export interface FetchOptions {
  ctx: StrategyContext & { signal: AbortSignal };
  /** The platform's download budget (`<platform>:download`). */
  budget: string;
  /** Never accept more bytes than this (the declared size, else the whole work budget). */
  limit: number;
}

/** The verified file at done/P: left there by an earlier run, else downloaded; or the entry's failure. */
export async function fetchToWork(
  file: PlatformFile,
  work: WorkPaths,
  options: FetchOptions,
): Promise<Fetched | FileOutcome> {
  return (await recoverDone(file, work)) ?? download(file, work, options);
}

/** A download an earlier run completed but did not upload (a crash), if its sidecar, size and sha1 hold and the manifest still agrees. */
async function recoverDone(file: PlatformFile, work: WorkPaths): Promise<Fetched | null> {
  const sidecar = await readFile(work.hashes, 'utf8')
    .then((text) => JSON.parse(text) as Fetched)
    .catch(() => null);
  const size = await stat(work.done).then(
    (info) => info.size,
    () => null,
  );
  const meta = sidecar?.meta;
  if (
    meta &&
    size === meta.size_bytes &&
    verifyFile(file, meta).status === 'success' &&
    (await workFs(sha1Of(work.done))) === meta.sha1hex
  ) {
    return sidecar;
  }
  await removeWork(work, ['done', 'hashes']);
  return null;
}

/**
 * Downloads into the part file, resuming with Range when a part is there (from a dropped connection
 * or an earlier run); a transfer that fails is tried again up to config.http.retries times.
 */
async function download(
  file: PlatformFile,
  work: WorkPaths,
  { ctx, budget, limit }: FetchOptions,
): Promise<Fetched | FileOutcome> {
  const failed = (status: FileStatus, message: string, response?: HttpResponse, when?: Date): FileOutcome => ({
    entry: {
      ...wireEntry(file, status),
      ...(response ? { terminal_url: response.url, terminal_dt: warcDatetime(when!) } : {}),
    },
    message,
  });
  if (!file.platform_url) return failed('error-platform-download', `${file.path}: the platform gave no download URL`);
  const part = new PartFile(work.part);
  await part.load();
  let attemptsLeft = ctx.config.http.retries + 1;
  let freshAfterMismatch = false;
  let problem = '';
  const { backoff, sleep } = ctx.http.retryTiming;
  let waits = 0;
  let dropped = false;
  while (attemptsLeft-- > 0) {
    // A dropped transfer is tried again after the client's backoff, as every retry is: at once, a
    // server that just failed is asked again before it could recover.
    if (dropped) await abortable(sleep(backoffDelay(waits++, backoff), ctx.signal), ctx.signal);
    dropped = false;
    if (part.size > limit) await part.reset();
    let response: HttpResponse;
    const onFileBytes = ctx.onFileBytes;
    // A resumed download starts with what its part file holds.
    onFileBytes?.(file.path, part.size, true);
    try {
      ({ final: response } = await followRedirects(ctx.http, file.platform_url, {
        maxRedirects: ctx.config.http.maxRedirects,
        budget,
        ...(onFileBytes ? { onBytes: (bytes: number) => onFileBytes(file.path, bytes) } : {}),
        signal: ctx.signal,
        ...(part.size > 0 ? { headers: { Range: `bytes=${part.size}-` } } : {}),
      }));
    } catch (err) {
      if (ctx.signal.aborted || !(err instanceof IngestError)) throw err;
      return failed('error-platform-download', `${file.path}: ${err.message}`); // the part is kept for a later run
    }
    const when = ctx.now();
    const status = response.statusCode;
    const decoder = contentDecoder(response.header('content-encoding'));
    const resumes = status === 206 && !decoder && rangeStartsAt(response.header('content-range'), part.size, file.size);
    if (!resumes && status !== 200) {
      await discard(response.body);
      if (status === 206 || status === 416) {
        // The server will not continue our part as it is: start over.
        problem = `HTTP ${status} (Content-Range ${response.header('content-range') ?? 'none'}) resuming at byte ${part.size}`;
        await part.reset();
        continue;
      }
      if (status < 500 && status !== 429) await part.reset(); // gone or refused, not a passing fault
      return failed('error-platform-download', `${file.path}: HTTP ${status} from ${response.url}`, response, when);
    }
    if (!resumes) await part.reset(); // 200: the whole file, from the start
    const before = part.size;
    try {
      await part.append(response.body, decoder, limit, ctx.signal);
    } catch (err) {
      if (ctx.signal.aborted || err instanceof InfrastructureError) throw err;
      if (err instanceof BodyTooLargeError) {
        await part.reset();
        return typeof file.size === 'number'
          ? failed(
              'mismatch-size',
              `${file.path}: server sent more than the ${file.size} bytes the platform declared`,
              response,
              when,
            )
          : failed(
              'too-large-size',
              `${file.path}: larger than the working-directory budget of ${limit} bytes`,
              response,
              when,
            );
      }
      // A decoded part's offsets are not the server's: it cannot be resumed.
      if (decoder) await part.reset();
      problem = describeError(err);
      dropped = true;
      continue;
    }
    // A body framed by the connection's end that stopped short is a dropped connection too.
    const closeDelimited =
      response.header('content-length') === undefined && response.header('transfer-encoding') === undefined;
    if (closeDelimited && !decoder && typeof file.size === 'number' && part.size < file.size && part.size > before) {
      problem = `the connection closed after ${part.size} of ${file.size} bytes`;
      dropped = true;
      continue;
    }
    const outcome = await complete(file, work, part, response, when);
    // What an earlier attempt left may be what is wrong (another version of the file): once more, whole.
    if (!('meta' in outcome) && resumes && !freshAfterMismatch) {
      freshAfterMismatch = true;
      attemptsLeft++;
      problem = outcome.message ?? '';
      continue;
    }
    return outcome;
  }
  // The part is kept for a later run to resume: the failure was the network's.
  return failed(
    'error-platform-download',
    `${file.path}: download failed ${ctx.config.http.retries + 1} times, last: ${problem}`,
  );
}

/** Verifies a finished part; a good one becomes done/P beside its sidecar, a bad one is deleted. */
async function complete(
  file: PlatformFile,
  work: WorkPaths,
  part: PartFile,
  response: HttpResponse,
  when: Date,
): Promise<Fetched | FileOutcome> {
  const digests = part.digests();
  const meta: FileMeta = {
    size_bytes: digests.size,
    md5hex: digests.md5,
    sha1hex: digests.sha1,
    sha256hex: digests.sha256,
    mimetype: file.mimetype ?? chooseMimetype(response.header('content-type'), digests.head),
  };
  const terminal = {
    terminal_url: response.url,
    terminal_dt: warcDatetime(when),
    terminal_status_code: response.statusCode,
    terminal_sha1hex: meta.sha1hex,
  };
  const verdict = verifyFile(file, meta);
  if (verdict.status !== 'success') {
    await part.reset();
    return {
      entry: {
        ...wireEntry(file, verdict.status),
        terminal_url: terminal.terminal_url,
        terminal_dt: terminal.terminal_dt,
      },
      message: verdict.message!,
    };
  }
  await workFs(writeAtomic(work.hashes, `${JSON.stringify({ meta, terminal } satisfies Fetched)}\n`));
  await workFs(mkdir(dirname(work.done), { recursive: true }));
  await workFs(rename(work.part, work.done));
  return { meta, terminal };
}

function rangeStartsAt(contentRange: string | undefined, start: number, size: number | null | undefined): boolean {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange?.trim() ?? '');
  if (!m || start === 0 || Number(m[1]) !== start) return false;
  return m[3] === '*' || size === null || size === undefined || Number(m[3]) === size;
}

const SNIFF_BYTES = 512;

/** The part file and the md5, sha1 and sha256 of exactly the bytes it holds (hashed as they are written). */
class PartFile {
  size = 0;
  #hashes: Hash[] = [];
  #head: Buffer[] = [];
  constructor(readonly path: string) {
    this.#fresh();
  }

  /** Hashes what an earlier attempt or run left, streaming. */
  async load(): Promise<void> {
    this.#fresh();
    try {
      for await (const chunk of createReadStream(this.path)) this.#update(chunk as Buffer);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw workError(err);
      this.#fresh();
    }
  }

  /** Deletes the part: the next bytes start the file. */
  async reset(): Promise<void> {
    await workFs(rm(this.path, { force: true }));
    this.#fresh();
  }

  /** Appends a body (decoded first when a decoder is given), refusing to grow past `limit` bytes. */
  async append(body: Readable, decoder: Transform | undefined, limit: number, signal: AbortSignal): Promise<void> {
    await workFs(mkdir(dirname(this.path), { recursive: true }));
    const handle = await workFs(open(this.path, 'a'));
    // A Writable, not an async function: pipeline then rejects with the sink's own error (too
    // large, a disk failure) rather than with the AbortError it destroys a decoder with.
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.size + chunk.length > limit) {
          callback(new BodyTooLargeError(`body exceeds the limit of ${limit} bytes`));
          return;
        }
        workFs(handle.write(chunk)).then(() => {
          this.#update(chunk);
          callback();
        }, callback);
      },
    });
    try {
      await (decoder ? pipeline(body, decoder, sink, { signal }) : pipeline(body, sink, { signal }));
    } finally {
      await handle.close();
    }
  }

  digests() {
    const [md5, sha1, sha256] = this.#hashes.map((h) => h.digest('hex')) as [string, string, string];
    return { size: this.size, md5, sha1, sha256, head: Buffer.concat(this.#head) };
  }

  #fresh(): void {
    this.size = 0;
    this.#hashes = ['md5', 'sha1', 'sha256'].map((a) => createHash(a));
    this.#head = [];
  }

  #update(chunk: Buffer): void {
    if (this.size < SNIFF_BYTES) this.#head.push(chunk.subarray(0, SNIFF_BYTES - this.size));
    this.size += chunk.length;
    for (const hash of this.#hashes) hash.update(chunk);
  }
}

async function sha1Of(path: string): Promise<string> {
  const sha1 = createHash('sha1');
  for await (const chunk of createReadStream(path)) sha1.update(chunk as Buffer);
  return sha1.digest('hex');
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, text);
  await rename(temp, path);
}

export async function removeWork(
  work: WorkPaths,
  which: Array<'part' | 'done' | 'hashes'> = ['part', 'done', 'hashes'],
): Promise<void> {
  await Promise.all(which.map((k) => workFs(rm(work[k], { force: true }))));
}

/** Removes the empty folders under (and including) `dir`, deepest first. */
export async function pruneEmptyDirs(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (!entries) return;
  for (const e of entries) if (e.isDirectory()) await pruneEmptyDirs(join(dir, e.name));
  await rmdir(dir).catch(() => undefined); // fails, as it should, while anything is left in it
}

/** Trouble in the working directory is ours, not the dataset's: the request is retried. */
function workError(err: unknown): Error {
  if (err instanceof InfrastructureError || err instanceof IngestError) return err;
  return new InfrastructureError(`working directory: ${describeError(err)}`, { cause: err });
}

async function workFs<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    throw workError(err);
  }
}

// WARC shipping: every closed WARC file of this data directory goes to the WARC destination
// (FILESET_WARC_STORE, destination.ts) and leaves the local disk only once it is safe there.
//
// One file, in this order, each step safe to repeat:
//   1. hash the local file (size, md5, sha1);
//   2. if the destination does not already hold exactly these bytes under the file's name, upload
//      them under that same name (never another: the name is the file's identity, and the wire
//      path `<item or prefix>/<file>` results carry was fixed when the file was named);
//   3. verify: the destination's own account of what it holds (fs: the bytes hashed again after
//      fsync; s3: size, ETag = md5 of a single PUT, our sha1; ias3: archive.org's md5 and sha1)
//      must equal the local file's size and digests, else the step fails and is retried;
//   4. one UPDATE moves every capture-index row of the file from its bare name to the shipped
//      location (a single statement: one transaction; rows are found by the exact file name, which
//      holds this host's name and a pid, so a worker touches only its own files even when the
//      whole fleet shares one PostgreSQL);
//   5. only after that commit, remove the local file and fsync the directory.
// A crash (or a store outage) between any two steps leaves the local file in place, so the next
// pass (or the next start: the shipper starts with a pass over everything in warcs/, files of a
// crashed earlier process included, which recovery.ts has renamed from `.open`) does it again:
// after 2 it finds the copy and skips the upload; a partial or different copy fails 3's check and
// is replaced under the same name; after 4 the UPDATE finds nothing left to move and the file is
// removed. Nothing is removed before the index says where the bytes are, and nothing is ever
// shipped under a second name.
//
// A record written into a file just before it closed may be indexed a moment after the file was
// shipped (the writer returns the location, the caller then inserts the row): the rows of files
// shipped in a pass are moved again at the next pass and at stop, which catches such a row.
//
// Outage: a failed pass is retried with backoff (src/retry.ts) until it succeeds, while the worker
// goes on writing; the backlog gauges (files, bytes waiting) grow and an alert fires on them.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from '../../db/database.js';
import { InfrastructureError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { retry, sleep, type Backoff } from '../../retry.js';
import { fileDigests, sameFile, type WarcDestination } from './destination.js';
import { syncDir } from './files.js';

/** Told what the shipper does: the worker's metrics. */
export interface ShipObserver {
  backlog?(files: number, bytes: number): void;
  shipped?(bytes: number): void;
  failed?(): void;
}

/** Steps after which a test may stop the shipper as a crash would (see ShipperOptions.afterStep). */
export type ShipStep = 'uploaded' | 'verified' | 'indexed';

export interface ShipperOptions {
  /** The data directory's warcs/ folder. */
  dir: string;
  destination: WarcDestination;
  db: Database;
  logger: Logger;
  observer?: ShipObserver;
  /** Waits between failed passes (default: 1 s doubling to 5 min, with jitter). */
  backoff?: Backoff;
  /** A pass runs at least this often without being asked (default 60 s): nothing waits for a notice. */
  pollMs?: number;
  /** Called after each step of each file; a throw stops the pass there, as a crash would (tests). */
  afterStep?: (step: ShipStep, name: string) => void | Promise<void>;
}

const CLOSED_WARC = /\.warc\.gz$/;
const MOVE_ROWS = 'UPDATE capture SET warc_path = $2 WHERE warc_path = $1';

export class WarcShipper {
  readonly #options: ShipperOptions;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** The pass under way: passes never overlap. */
  #pass: Promise<unknown> = Promise.resolve();
  #wake: (() => void) | undefined;
  #asked = false;
  /** Files shipped by the last pass whose rows are moved once more (see the top of this file). */
  #recent = new Map<string, string>();

  constructor(options: ShipperOptions) {
    this.#options = options;
  }

  /** Where a file is outside this process once shipped (the wire path from the moment it is named). */
  location(name: string): string {
    return this.#options.destination.location(name);
  }

  /** Starts shipping in the background: a pass now, after each notify(), and every pollMs. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** A file was closed: ship it soon. */
  notify(): void {
    this.#asked = true;
    this.#wake?.();
  }

  /**
   * One pass over the closed files, oldest name first; throws on the first file that cannot be
   * shipped (the rest wait for the next pass). Returns the names shipped.
   */
  shipAll(): Promise<string[]> {
    const pass = this.#pass.then(() => this.#shipAll());
    this.#pass = pass.catch(() => undefined);
    return pass;
  }

  /** Closed WARC files waiting here, and their bytes. */
  async backlog(): Promise<{ files: number; bytes: number }> {
    const names = await this.#closedFiles();
    let bytes = 0;
    for (const name of names) bytes += (await stat(join(this.#options.dir, name)).catch(() => ({ size: 0 }))).size;
    return { files: names.length, bytes };
  }

  /** Stops the loop, then makes one last pass (a failure is logged: the files wait for the next start). */
  async stop(): Promise<void> {
    this.#stop.abort(new Error('shipper stopped'));
    this.#wake?.();
    await this.#loop;
    try {
      await this.shipAll();
    } catch (err) {
      this.#options.logger.warn(
        { err: describeError(err) },
        'WARC files not shipped at stop; they stay in the data directory and are shipped at the next start',
      );
    }
    await this.#moveRecent().catch(() => undefined);
  }

  async #run(): Promise<void> {
    const { logger, observer } = this.#options;
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      this.#asked = false;
      try {
        await retry(() => this.shipAll(), {
          retries: Infinity,
          backoff: this.#options.backoff ?? { baseMs: 1000, maxMs: 300_000, jitter: true },
          signal,
          onRetry: (err, n, delayMs) => {
            observer?.failed?.();
            logger.warn({ err: describeError(err), attempt: n + 1, delayMs }, 'WARC shipping failed; trying again');
          },
        });
      } catch {
        // Only the stop ends the retries: the loop ends with it.
      }
      if (signal.aborted || this.#asked) continue;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        void sleep(this.#options.pollMs ?? 60_000, signal).then(resolve, resolve);
      });
      this.#wake = undefined;
    }
  }

  async #shipAll(): Promise<string[]> {
    await this.#moveRecent();
    const shipped: string[] = [];
    try {
      for (const name of await this.#closedFiles()) {
        await this.#ship(name);
        shipped.push(name);
      }
    } finally {
      await this.#reportBacklog();
    }
    return shipped;
  }

  async #ship(name: string): Promise<void> {
    const { dir, destination, db, logger, observer, afterStep } = this.#options;
    const path = join(dir, name);
    const location = destination.location(name);
    const local = await fileDigests(path);
    if (!sameFile(await destination.stat(name), local)) {
      await destination.put(name, path, local);
      await afterStep?.('uploaded', name);
      const landed = await destination.stat(name);
      if (!sameFile(landed, local))
        throw new InfrastructureError(
          `WARC ${name} at ${destination.describe(location)} is not the file after upload ` +
            `(size ${landed?.size ?? 'none'} of ${local.size}, or a digest differs)`,
        );
    }
    await afterStep?.('verified', name);
    const moved = await db.query(`${MOVE_ROWS} RETURNING 1`, [name, location]);
    await afterStep?.('indexed', name);
    await rm(path);
    await syncDir(dir);
    this.#recent.set(name, location);
    observer?.shipped?.(local.size);
    logger.info({ file: name, location, bytes: local.size, rows: moved.length }, 'WARC file shipped');
  }

  async #moveRecent(): Promise<void> {
    for (const [name, location] of [...this.#recent]) {
      await this.#options.db.query(MOVE_ROWS, [name, location]);
      this.#recent.delete(name);
    }
  }

  async #closedFiles(): Promise<string[]> {
    const names = await readdir(this.#options.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    return names.filter((name) => CLOSED_WARC.test(name)).sort();
  }

  async #reportBacklog(): Promise<void> {
    if (!this.#options.observer?.backlog) return;
    const { files, bytes } = await this.backlog();
    this.#options.observer.backlog(files, bytes);
  }
}

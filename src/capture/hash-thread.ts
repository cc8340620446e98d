// Digests computed on a worker thread. A large download's hashes (md5, sha1 twice, sha256: about
// 250 MB/s on one core) would otherwise all run on the main thread, which also parses the HTTP
// streams and frames the deflate blocks: that thread was the limit of a one-file archive. The
// bytes are copied into batches that are transferred, never cloned with their whole pool buffer.
import { Worker } from 'node:worker_threads';

// Plain JavaScript, evaluated: the same code runs from src/ under tsx or vitest and from dist/.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'start') sessions.set(m.id, m.algorithms.map((a) => createHash(a)));
  else if (m.op === 'update') {
    const hashes = sessions.get(m.id);
    if (hashes) for (const hash of hashes) hash.update(m.data);
    // The batch goes back to be filled again: no allocation per batch, none left for a lazy GC.
    parentPort.postMessage({ op: 'ack', id: m.id, bytes: m.data.length, data: m.data }, [m.data.buffer]);
  } else if (m.op === 'digest') {
    const hashes = sessions.get(m.id);
    sessions.delete(m.id);
    parentPort.postMessage({ op: 'digest', id: m.id, digests: hashes.map((hash) => hash.digest('hex')) });
  } else if (m.op === 'drop') sessions.delete(m.id);
});
`;

/** Bytes gathered before one message goes to the thread. */
const BATCH = 1 << 20;
/** Bytes sent and not yet hashed before update() callers are asked to wait (back-pressure). */
const OUTSTANDING_MAX = 4 << 20;

type Reply =
  { op: 'ack'; id: number; bytes: number; data: Uint8Array } | { op: 'digest'; id: number; digests: string[] };

let worker: Worker | undefined;
let nextId = 0;
const sessions = new Map<number, OffThreadHash>();
/** Batches back from the thread, to be filled again (at most what was ever in flight at once). */
const spare: ArrayBuffer[] = [];

function thread(): Worker {
  if (worker) return worker;
  const created = new Worker(SOURCE, { eval: true, name: 'fileset-hash' });
  created.on('message', (reply: Reply) => {
    if (reply.op === 'ack') spare.push(reply.data.buffer as ArrayBuffer);
    sessions.get(reply.id)?.receive(reply);
  });
  created.on('error', (err) => fail(created, err));
  created.on('exit', (code) => fail(created, new Error(`hash thread exited with code ${code}`)));
  worker = created;
  return created;
}

function fail(dead: Worker, err: Error): void {
  if (worker !== dead) return;
  worker = undefined;
  for (const session of [...sessions.values()]) session.abort(err);
}

/** While a session waits for digests the thread keeps the process alive; otherwise it must not. */
function refWhileBusy(): void {
  if (!worker) return;
  if (sessions.size > 0) worker.ref();
  else worker.unref();
}

/** Hashes over one stream of bytes, computed on the process's hash thread (started on first use). */
export class OffThreadHash {
  private readonly id = ++nextId;
  private readonly worker: Worker;
  private batch: Buffer | undefined;
  private batchLength = 0;
  private outstanding = 0;
  private failure: Error | undefined;
  private drained: (() => void) | undefined;
  private result: { resolve: (digests: string[]) => void; reject: (err: Error) => void } | undefined;

  constructor(algorithms: string[]) {
    this.worker = thread();
    sessions.set(this.id, this);
    refWhileBusy();
    this.worker.postMessage({ op: 'start', id: this.id, algorithms });
  }

  /** Adds bytes (copied: the caller may reuse `chunk`). */
  update(chunk: Buffer): void {
    if (this.failure) return;
    for (let at = 0; at < chunk.length;) {
      this.batch ??= Buffer.from(spare.pop() ?? new ArrayBuffer(BATCH));
      const n = chunk.copy(this.batch, this.batchLength, at);
      this.batchLength += n;
      at += n;
      if (this.batchLength === BATCH) this.send();
    }
  }

  /** Undefined when more may be sent now, else a promise for when the thread has caught up. */
  ready(): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.outstanding < OUTSTANDING_MAX) return undefined;
    return new Promise((resolve) => (this.drained = resolve));
  }

  /** The hex digests, in the order of the algorithms; ends the session. */
  digest(): Promise<string[]> {
    if (this.failure) return Promise.reject(this.failure);
    this.send();
    return new Promise((resolve, reject) => {
      this.result = { resolve, reject };
      this.worker.postMessage({ op: 'digest', id: this.id });
    });
  }

  /** Ends the session without digests (after a failed download). */
  drop(): void {
    if (!sessions.delete(this.id)) return;
    refWhileBusy();
    if (!this.failure) this.worker.postMessage({ op: 'drop', id: this.id });
  }

  receive(reply: Reply): void {
    if (reply.op === 'ack') {
      this.outstanding -= reply.bytes;
      if (this.outstanding < OUTSTANDING_MAX) this.wake();
      return;
    }
    sessions.delete(this.id);
    refWhileBusy();
    this.result?.resolve(reply.digests);
  }

  abort(err: Error): void {
    this.failure = err;
    sessions.delete(this.id);
    this.wake();
    this.result?.reject(err);
  }

  private wake(): void {
    const drained = this.drained;
    this.drained = undefined;
    drained?.();
  }

  private send(): void {
    if (!this.batch || this.batchLength === 0) return;
    const data = new Uint8Array(this.batch.buffer, 0, this.batchLength);
    this.outstanding += this.batchLength;
    this.worker.postMessage({ op: 'update', id: this.id, data }, [data.buffer as ArrayBuffer]);
    this.batch = undefined;
    this.batchLength = 0;
  }
}

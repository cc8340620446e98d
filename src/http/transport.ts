// The undici Agent behind the client: timeouts, the SSRF guard at connect time, and the remote
// IP address of each request's socket (WARC-IP-Address).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { sleep } from '../retry.js';
import { createGuardedLookup } from './ssrf.js';

export interface TransportOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Connections to these origins skip the guard; `'*'` trusts everything (allowPrivate). */
  trustedOrigins: ReadonlySet<string>;
}

interface Slot {
  remoteAddress?: string;
}

const CREATE = 'undici:request:create';
/** How often close() looks whether the requests in flight have finished. */
const CLOSE_POLL_MS = 20;
const SEND_HEADERS = 'undici:client:sendHeaders';

export class Transport {
  readonly #agent: Agent;
  readonly #slots = new WeakMap<object, Slot>();
  #claiming: Slot | undefined;

  constructor(options: TransportOptions) {
    const timeout = options.connectTimeoutMs;
    const open = buildConnector({ timeout });
    const guarded = buildConnector({ timeout, lookup: createGuardedLookup() });
    const trustAll = options.trustedOrigins.has('*');
    const connect: buildConnector.connector = (target, callback) => {
      if (trustAll || options.trustedOrigins.has(`${target.protocol}//${target.host}`)) {
        return open(target, callback);
      }
      // IP literals never reach the lookup: the client judges those before dispatching.
      return guarded(target, callback);
    };
    this.#agent = new Agent({
      connect,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
    });
    subscribe(CREATE, this.#onCreate);
    subscribe(SEND_HEADERS, this.#onSendHeaders);
  }

  /** undici's request() (raw header list) plus the IP address of the socket it went out on. */
  async request(
    options: Dispatcher.RequestOptions,
  ): Promise<{ data: Dispatcher.ResponseData; remoteAddress?: string }> {
    const slot: Slot = {};
    let pending: Promise<Dispatcher.ResponseData>;
    // undici creates its request object synchronously inside request(), so the create event
    // seen in this window is ours; queued requests are simply not matched (no address).
    this.#claiming = slot;
    try {
      pending = this.#agent.request({ ...options, responseHeaders: 'raw' });
    } finally {
      this.#claiming = undefined;
    }
    const data = await pending;
    return slot.remoteAddress ? { data, remoteAddress: slot.remoteAddress } : { data };
  }

  /**
   * Lets requests in flight finish for up to `graceMs`, then closes every connection, cutting
   * whatever is still open. (undici's close() waits for every response body to be read, and one
   * nobody reads would hold it, and the process, for ever; once close() has begun, destroy() no
   * longer cuts it.) Returns true if something had to be cut.
   */
  async close(graceMs: number): Promise<boolean> {
    unsubscribe(CREATE, this.#onCreate);
    unsubscribe(SEND_HEADERS, this.#onSendHeaders);
    const deadline = Date.now() + graceMs;
    while (this.#inFlight() > 0 && Date.now() < deadline)
      await sleep(Math.min(CLOSE_POLL_MS, Math.max(1, deadline - Date.now())));
    if (this.#inFlight() === 0) {
      await this.#agent.close();
      return false;
    }
    await this.#agent.destroy(new Error('HTTP client closed with this response still unread'));
    return true;
  }

  /** Requests sent or queued whose response has not been read to its end, across origins. */
  #inFlight(): number {
    let count = 0;
    for (const stats of Object.values(this.#agent.stats))
      count += stats.running + stats.pending + ('queued' in stats ? stats.queued : 0);
    return count;
  }

  #onCreate = (message: unknown): void => {
    if (!this.#claiming) return;
    this.#slots.set((message as { request: object }).request, this.#claiming);
    this.#claiming = undefined;
  };

  #onSendHeaders = (message: unknown): void => {
    const { request, socket } = message as { request: object; socket: Socket };
    const slot = this.#slots.get(request);
    if (slot && socket.remoteAddress) slot.remoteAddress = socket.remoteAddress;
  };
}

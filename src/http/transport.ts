// The undici Agent behind the client: timeouts, the SSRF guard at connect time, and the remote
// IP address of each request's socket (WARC-IP-Address).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
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

  async close(): Promise<void> {
    unsubscribe(CREATE, this.#onCreate);
    unsubscribe(SEND_HEADERS, this.#onSendHeaders);
    await this.#agent.close();
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

// Which HTTP answers and transport failures are worth another try, and which count as the
// network's fault (NetworkError) rather than ours. How long to wait is src/retry.ts.
import { InfrastructureError, IngestError, NetworkError } from '../errors.js';

export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/** Transient transport failures: the same request may well succeed a moment later. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET', // "other side closed"
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** undici errors that mean we misused it or shut it down: bugs and lifecycle, never a dataset's status. */
const OWN_FAULT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_INVALID_RETURN_VALUE',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_ABORTED',
]);

/** Every error in a chain of causes (and of AggregateErrors, which happy-eyeballs connects throw). */
function* errorChain(err: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  const stack = [err];
  while (stack.length) {
    const e = stack.pop();
    if (e === undefined || e === null || seen.has(e)) continue;
    seen.add(e);
    yield e;
    if (e instanceof AggregateError) stack.push(...(e.errors as unknown[]));
    if (e instanceof Error) stack.push(e.cause);
  }
}

/** The first error code found along the cause chain. */
export function errorCode(err: unknown): string | undefined {
  for (const e of errorChain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function isRetryableError(err: unknown): boolean {
  // Our own infrastructure (the shared budgets' database) failing is not a reason to ask the host again.
  if (err instanceof InfrastructureError) return false;
  const code = errorCode(err);
  return code !== undefined && RETRYABLE_CODES.has(code);
}

/** Failures of the transfer itself (as opposed to errors a body's consumer destroys it with). */
export function isTransferError(err: unknown): boolean {
  const code = errorCode(err);
  if (code === undefined) return false;
  return RETRYABLE_CODES.has(code) || code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
}

/**
 * What a transport failure means for the caller: an IngestError anywhere in the chain (the SSRF
 * guard's, thrown inside undici's connect) surfaces as itself; our own misuse and our own
 * infrastructure's failures (an InfrastructureError, retried by the worker) stay as they are;
 * anything else is the network's fault.
 */
export function classifyError(err: unknown, host: string): Error {
  if (err instanceof InfrastructureError) return err;
  for (const e of errorChain(err)) if (e instanceof IngestError) return e;
  const code = errorCode(err);
  if (code !== undefined && OWN_FAULT_CODES.has(code)) return err as Error;
  const detail = code ?? (err instanceof Error ? err.message : String(err));
  return new NetworkError(`network error talking to ${host}: ${detail}`, { cause: err });
}

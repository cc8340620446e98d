// pino logger: JSON lines on stderr (stdout carries results), secrets redacted.
import { pino, type Logger } from 'pino';
import { secretScrubber } from './redact.js';

export type { Logger };

export const REDACT_PATHS = [
  'config.databaseUrl',
  'databaseUrl',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'config.s3.secretAccessKey',
  'config.ias3.secretKey',
  'secretAccessKey',
  '*.secretAccessKey',
  'secretKey',
  '*.secretKey',
];

/** Longest string value in a log line, in characters; a longer one is cut and says how long it was. */
export const MAX_LOG_STRING = 2048;

export interface LoggerOptions {
  /** Values never to print (configured keys and passwords), besides the patterns src/redact.ts knows. */
  secrets?: ReadonlyArray<string | undefined>;
}

export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: false }),
  options: LoggerOptions = {},
): Logger {
  const scrub = secretScrubber(options.secrets);
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
      // The finished line, whatever put text into it (message, bindings, error, stack): secrets
      // out, then long strings cut, so hostile input is never echoed unbounded.
      hooks: { streamWrite: (line) => clipJsonStrings(scrub(line), MAX_LOG_STRING) },
    },
    destination,
  );
}

/** The secrets a configuration holds, for LoggerOptions. */
export function configSecrets(config: {
  databaseUrl?: string | undefined;
  s3: { secretAccessKey?: string | undefined };
  ias3: { secretKey?: string | undefined };
}): string[] {
  const secrets = [config.s3.secretAccessKey, config.ias3.secretKey];
  try {
    if (config.databaseUrl) secrets.push(decodeURIComponent(new URL(config.databaseUrl).password));
  } catch {
    // Not a URL: the scrubber's patterns still hide a password= keyword.
  }
  return secrets.filter((s): s is string => !!s);
}

/**
 * A JSON text with every string value longer than `max` characters cut to `max`, noting its
 * length. Escapes are kept whole, so the line stays valid JSON.
 */
export function clipJsonStrings(json: string, max: number): string {
  if (json.length <= max) return json;
  let out = '';
  let copiedUpTo = 0;
  let i = 0;
  while (i < json.length) {
    if (json[i] !== '"') {
      i += 1;
      continue;
    }
    const start = i + 1;
    let chars = 0;
    let cut = -1;
    i = start;
    while (i < json.length && json[i] !== '"') {
      if (chars === max) cut = i;
      i += json[i] === '\\' ? (json[i + 1] === 'u' ? 6 : 2) : 1;
      chars += 1;
    }
    if (cut >= 0) {
      out += `${json.slice(copiedUpTo, cut)}…[${chars} chars]`;
      copiedUpTo = i;
    }
    i += 1; // the closing quote
  }
  return out + json.slice(copiedUpTo);
}

/** Hides the password of a connection URL, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}

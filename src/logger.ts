// pino logger: JSON lines on stderr (stdout carries results), secrets redacted.
import { pino, type Logger } from 'pino';

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

export function createLogger(
  level: string,
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: false }),
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
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

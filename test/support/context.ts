// Building configs, loggers and HTTP clients for tests that talk to a local fixture server.
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from '../../src/config.js';
import { HttpClient } from '../../src/http/client.js';
import type { PlatformContext } from '../../src/platforms/types.js';

export const silentLogger = pino({ level: 'silent' });

/** Config whose rewrite map sends each listed origin to the fixture server. */
export function testConfig(
  origin: string,
  env: Record<string, string> = {},
  rewritten = ['https://zenodo.org', 'https://doi.org'],
): Config {
  return loadConfig({
    FILESET_HTTP_REWRITE: rewritten.map((o) => `${o}=${origin}`).join(','),
    FILESET_HTTP_RETRIES: '1',
    // Platform rate budgets would space requests a second apart; politeness has its own tests.
    FILESET_PLATFORM_BUDGETS: '*:api=8,*:download=8',
    FILESET_LOG_LEVEL: 'silent',
    ...env,
  });
}

export function testHttp(config: Config): HttpClient {
  return new HttpClient({ config, logger: silentLogger, retryBaseDelayMs: 1 });
}

export function platformContext(config: Config): PlatformContext & { http: HttpClient } {
  return { config, logger: silentLogger, http: testHttp(config) };
}

/**
 * A debug logger that keeps its last `keep` lines in memory, for a test to attach to a failure
 * (a worker that stalls says why: its joins, crashes, commits and retries).
 */
export function recordingLogger(keep = 400): { logger: Logger; tail(): string } {
  const lines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        lines.push(line.trimEnd());
        if (lines.length > keep) lines.splice(0, lines.length - keep);
      },
    },
  );
  return { logger, tail: () => lines.join('\n') };
}

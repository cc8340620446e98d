import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../src/logger.js';

describe('logger', () => {
  it('writes JSON lines and redacts secrets', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
    const logger = createLogger('info', sink as unknown as Parameters<typeof createLogger>[1]);
    logger.info(
      { databaseUrl: 'postgres://u:hunter2@db/fileset', request: { headers: { authorization: 'LOW key:secret' } } },
      'connected',
    );
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      msg: 'connected',
      level: 30,
      databaseUrl: '[redacted]',
      request: { headers: { authorization: '[redacted]' } },
    });
    expect(lines.join('')).not.toMatch(/hunter2|key:secret/);
  });

  it('hides the password of a connection URL', () => {
    expect(redactUrl('postgres://u:hunter2@db:5432/fileset')).toBe('postgres://u:***@db:5432/fileset');
    expect(redactUrl('not a url')).toBe('[unparseable url]');
  });
});

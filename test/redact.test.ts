// Secrets out of text: every form a credential takes in a message or a JSON log line.
import { describe, expect, it } from 'vitest';
import { scrubSecrets, secretScrubber } from '../src/redact.js';

describe('scrubSecrets', () => {
  it('hides the credentials of URLs, with or without slashes, up to the last @', () => {
    const cases: Array<[string, string]> = [
      ['invalid https://user:secret@zenodo.org/records/1', 'invalid https://[redacted]@zenodo.org/records/1'],
      ['postgres://fileset:hunter2@db:5432/x', 'postgres://[redacted]@db:5432/x'],
      ['HTTP://a%3Ab:c%40d@host/', 'HTTP://[redacted]@host/'],
      ['https://user:p@ss@host/x', 'https://[redacted]@host/x'],
      ['https:user:secret@zenodo.org/', 'https://[redacted]@zenodo.org/'],
      ['http:\\\\user:secret@host/', 'http:\\\\[redacted]@host/'],
      ['{"url":"https://token@github.com/x"}', '{"url":"https://[redacted]@github.com/x"}'],
    ];
    for (const [text, clean] of cases) expect(scrubSecrets(text)).toBe(clean);
  });

  it('hides Authorization, Cookie and key=value secrets, keeping JSON valid', () => {
    const line = JSON.stringify({
      headers: { Authorization: 'LOW abc:def', cookie: 'session=xyz' },
      pairs: [
        ['authorization', 'Bearer tok3n'],
        ['Cookie', 'sid=1'],
      ],
      dsn: 'host=db password=hunter2 user=x',
      query: 'https://api.example.org/x?access_token=t0k&page=2',
      secretAccessKey: 'AKIAsecret',
      quoted: 'password="a\\"b"',
    });
    const clean = scrubSecrets(line);
    for (const secret of ['abc:def', 'session=xyz', 'tok3n', 'sid=1', 'hunter2', 't0k', 'AKIAsecret', 'a\\"b'])
      expect(clean).not.toContain(secret);
    expect(() => JSON.parse(clean) as unknown).not.toThrow();
    expect(clean).toContain('page=2');
    expect(clean).toContain('user=x');
  });

  it('leaves ordinary text alone (mailto, words, hashes)', () => {
    const text = 'fileset-ingest/0.1 (+mailto:me@example.org) tokens=3 sha1=abcdef a secret is kept';
    expect(scrubSecrets(text)).toBe(text);
  });

  it('is linear on hostile input (no backtracking blow-up)', () => {
    const hostile = ['a.'.repeat(2_000_000), `https://${'u'.repeat(4_000_000)}`, 'authorization '.repeat(300_000)];
    for (const text of hostile) expect(scrubSecrets(text).length).toBeGreaterThan(0);
  });
});

describe('secretScrubber', () => {
  it('hides configured secrets as written, JSON-escaped and URL-encoded; ignores values too short to be secrets', () => {
    const scrub = secretScrubber(['s3cr"et/val', undefined, 'ab']);
    expect(scrub('key s3cr"et/val here')).toBe('key [redacted] here');
    expect(scrub(JSON.stringify({ m: 'x s3cr"et/val' }))).toBe('{"m":"x [redacted]"}');
    expect(scrub('pg://u:s3cr%22et%2Fval@h')).not.toContain('s3cr');
    expect(scrub('ab cd')).toBe('ab cd');
  });
});

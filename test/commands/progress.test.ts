import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/commands/progress.js';
import type { ProgressEvent } from '../../src/pipeline/ingest.js';

/** A stream that keeps what was written; `isTTY` and `columns` as a terminal would have them. */
function sink(tty: boolean) {
  const written: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk.toString());
        callback();
      },
    }),
    tty ? { isTTY: true, columns: 120, rows: 40 } : {},
  );
  return { stream, text: () => written.join('') };
}

/** Terminal escape sequences (cursor moves, erase). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

const run: ProgressEvent[] = [
  { phase: 'landing' },
  { phase: 'platform' },
  { phase: 'files', strategy: 'web-fileset', filesTotal: 3, bytesTotal: 3_000_000 },
  { phase: 'file-bytes', path: 'a.csv', bytes: 0, start: true },
  { phase: 'file-bytes', path: 'b.csv', bytes: 0, start: true },
  { phase: 'file-bytes', path: 'a.csv', bytes: 400_000, start: false },
  { phase: 'file-bytes', path: 'b.csv', bytes: 250_000, start: false },
];

describe('progress display', () => {
  it('on a terminal: bytes against the total, rate, ETA and the files in flight, results and logs above', () => {
    let clock = 0;
    const { stream, text } = sink(true);
    const progress = createProgress(stream, { mode: 'live', now: () => clock, redrawMs: 60_000 });
    for (const event of run) {
      clock += 1000;
      progress.onProgress(event);
    }
    progress.onProgress({ phase: 'file-bytes', path: 'a.csv', bytes: 600_000, start: false });
    let screen = text().replace(ANSI, '');
    expect(screen).toContain('3 files, 3.00 MB to archive (web-fileset)');
    // The live block is drawn on each file start; the counted bytes are the latest figures.
    progress.log.write('{"level":40,"msg":"a warning"}\n');
    screen = text().replace(ANSI, '');
    const block = screen.slice(screen.lastIndexOf('[')).split('\n');
    expect(block[0]).toMatch(
      /^\[█{10}░{14}\] 41% {2}1.25 MB \/ 3.00 MB {2}\d+(\.\d+)? kB\/s {2}ETA \d+ s {2}0\/3 files$/,
    );
    expect(block.slice(1, 3)).toEqual(['  ↓ a.csv  1.00 MB', '  ↓ b.csv  250 kB']);
    // The log line went above the block, not across it.
    expect(screen.indexOf('{"level":40,"msg":"a warning"}')).toBeLessThan(screen.lastIndexOf('[█'));

    progress.onProgress({ phase: 'file-done', path: 'a.csv', status: 'success', size: 1_000_000 });
    progress.onProgress({ phase: 'file-done', path: 'c.csv', status: 'mismatch-md5', size: 1_000_000 });
    screen = text().replace(ANSI, '');
    expect(screen).toContain('✓ [1/3] a.csv  1.00 MB  success');
    expect(screen).toContain('✗ [2/3] c.csv  1.00 MB  mismatch-md5');
    expect(screen.slice(screen.lastIndexOf('[█'))).toMatch(/2\/3 files\n {2}↓ b\.csv {2}250 kB\n?$/);
    progress.stop();
  });

  it('elsewhere: one plain line per file and a summary, no escape codes', () => {
    let clock = 0;
    const { stream, text } = sink(false);
    const progress = createProgress(stream, { mode: 'lines', now: () => (clock += 500) });
    for (const event of run) progress.onProgress(event);
    progress.onProgress({ phase: 'file-done', path: 'a.csv', status: 'success', size: 1_000_000 });
    progress.onProgress({ phase: 'file-done', path: 'b.csv', status: 'exists', size: 1_000_000 });
    progress.onProgress({ phase: 'file-done', path: 'c.csv', status: 'error-platform-download', size: 1_000_000 });
    progress.onProgress({ phase: 'done' });
    progress.stop();
    expect(text()).not.toMatch(ANSI);
    expect(text().split('\n')).toEqual([
      '3 files, 3.00 MB to archive (web-fileset)',
      '✓ [1/3] a.csv  1.00 MB  success',
      '✓ [2/3] b.csv  1.00 MB  exists',
      '✗ [3/3] c.csv  1.00 MB  error-platform-download',
      expect.stringMatching(/^done: 3\/3 files, 3\.00 MB in \d+ s \(.+\/s\)$/),
      '',
    ]);
  });

  it('starts a resumed or retried file at what it already holds, not on top of it', () => {
    const { stream, text } = sink(false);
    const progress = createProgress(stream, { mode: 'lines', now: () => 0 });
    progress.onProgress({ phase: 'files', strategy: 'archiveorg-file', filesTotal: 1, bytesTotal: 1000 });
    progress.onProgress({ phase: 'file-bytes', path: 'big', bytes: 300, start: true });
    progress.onProgress({ phase: 'file-bytes', path: 'big', bytes: 200, start: false });
    progress.onProgress({ phase: 'file-bytes', path: 'big', bytes: 500, start: true }); // a new attempt
    progress.onProgress({ phase: 'file-bytes', path: 'big', bytes: 500, start: false });
    progress.onProgress({ phase: 'file-done', path: 'big', status: 'success', size: 1000 });
    progress.onProgress({ phase: 'done' });
    expect(text()).toContain('done: 1/1 files, 1.00 kB');
  });
});

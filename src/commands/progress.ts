// The progress of `fileset-ingest ingest` on stderr. On a terminal: a live block redrawn by
// log-update (bytes as they arrive against the total, rate, ETA, the files in flight), with each
// file's result and every log line printed above it, never across it. Elsewhere (a pipe, a log
// file): one plain line per event worth keeping.
import { createLogUpdate } from 'log-update';
import type { ProgressEvent } from '../pipeline/ingest.js';
import { humanBytes } from './status.js';

export interface ProgressDisplay {
  onProgress(event: ProgressEvent): void;
  /** A destination for the logger: its lines go above the live block. */
  readonly log: { write(line: string): void };
  /** Removes the live block (the results above it stay). */
  stop(): void;
}

export interface ProgressOptions {
  /** `live`: a redrawn block (a terminal); `lines`: a line per file. */
  mode: 'live' | 'lines';
  now?: () => number;
  /** How often the live block is redrawn while bytes flow. */
  redrawMs?: number;
}

const BAR_WIDTH = 24;
/** The rate is measured over this much recent time, so that it follows the network's pace. */
const RATE_WINDOW_MS = 5_000;
const SHOWN_IN_FLIGHT = 6;

interface Totals {
  filesTotal: number;
  bytesTotal: number | null;
  filesDone: number;
  bytes: number;
  startedAt: number;
}

export function createProgress(stream: NodeJS.WritableStream, options: ProgressOptions): ProgressDisplay {
  const now = options.now ?? Date.now;
  const live = options.mode === 'live' ? createLogUpdate(stream as NodeJS.WriteStream, { showCursor: true }) : null;
  const write = (line: string) => {
    if (live) live.persist(line);
    else stream.write(`${line}\n`);
  };
  let phase = '';
  let totals: Totals | undefined;
  const inFlight = new Map<string, number>();
  const samples: Array<[number, number]> = []; // [time, bytes so far]
  let timer: NodeJS.Timeout | undefined;

  const rate = (): number | null => {
    const t = now();
    while (samples.length > 1 && t - samples[0]![0] > RATE_WINDOW_MS) samples.shift();
    const first = samples[0];
    if (!first || !totals || t - first[0] < 500) return null;
    return ((totals.bytes - first[1]) * 1000) / (t - first[0]);
  };

  const render = (): string => {
    if (!totals) return phase;
    const { filesTotal, bytesTotal, filesDone, bytes } = totals;
    const perSecond = rate();
    const fraction = bytesTotal ? Math.min(1, bytes / bytesTotal) : filesTotal ? filesDone / filesTotal : 0;
    const filled = Math.round(fraction * BAR_WIDTH);
    const eta =
      perSecond && bytesTotal && perSecond > 0 ? `ETA ${duration((bytesTotal - bytes) / perSecond)}` : 'ETA --';
    const head = [
      `[${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${Math.floor(fraction * 100)}%`,
      `${humanBytes(bytes)}${bytesTotal !== null ? ` / ${humanBytes(bytesTotal)}` : ''}`,
      perSecond === null ? '-- MB/s' : `${humanBytes(perSecond)}/s`,
      eta,
      `${filesDone}/${filesTotal} files`,
    ].join('  ');
    const flying = [...inFlight].slice(0, SHOWN_IN_FLIGHT).map(([path, got]) => `  ↓ ${path}  ${humanBytes(got)}`);
    if (inFlight.size > SHOWN_IN_FLIGHT) flying.push(`  … and ${inFlight.size - SHOWN_IN_FLIGHT} more`);
    return [head, ...flying].join('\n');
  };
  const redraw = () => live?.(render());

  return {
    log: {
      write: (line) => {
        write(line.replace(/\n$/, ''));
        redraw();
      },
    },
    onProgress(event) {
      switch (event.phase) {
        case 'landing':
          phase = 'fetching the landing page…';
          break;
        case 'platform':
          phase = 'asking the platform for the file list…';
          break;
        case 'files':
          totals = {
            filesTotal: event.filesTotal,
            bytesTotal: event.bytesTotal,
            filesDone: 0,
            bytes: 0,
            startedAt: now(),
          };
          samples.push([now(), 0]);
          write(
            `${event.filesTotal} file${event.filesTotal === 1 ? '' : 's'}` +
              `${event.bytesTotal === null ? '' : `, ${humanBytes(event.bytesTotal)}`} to archive (${event.strategy})`,
          );
          if (live && !timer) timer = setInterval(redraw, options.redrawMs ?? 200).unref();
          break;
        case 'file-bytes': {
          if (!totals) return;
          const before = inFlight.get(event.path) ?? 0;
          const after = event.start ? event.bytes : before + event.bytes;
          inFlight.set(event.path, after);
          totals.bytes += after - before;
          samples.push([now(), totals.bytes]);
          if (!event.start) return; // the timer redraws while bytes flow
          break;
        }
        case 'file-done': {
          if (!totals) return;
          const got = inFlight.get(event.path);
          inFlight.delete(event.path);
          // A file not downloaded (already archived, restricted, failed early) still counts as done.
          if (got === undefined || got < event.size) totals.bytes += event.size - (got ?? 0);
          totals.filesDone += 1;
          const mark = /^(success|exists)/.test(event.status) ? '✓' : '✗';
          write(
            `${mark} [${totals.filesDone}/${totals.filesTotal}] ${event.path}  ${humanBytes(event.size)}  ${event.status}`,
          );
          break;
        }
        case 'done':
          if (totals) {
            const seconds = (now() - totals.startedAt) / 1000;
            write(
              `done: ${totals.filesDone}/${totals.filesTotal} files, ${humanBytes(totals.bytes)} in ${duration(seconds)}` +
                (seconds > 0 ? ` (${humanBytes(totals.bytes / seconds)}/s)` : ''),
            );
          }
          totals = undefined;
          phase = '';
          break;
      }
      redraw();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      live?.clear();
      live?.done();
    },
  };
}

/** 75 → "1 min 15 s". */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

// How far V8 lets the heap grow between full garbage collections, set for a process that streams
// bulk data.
import { setFlagsFromString } from 'node:v8';

/**
 * The growth factor asked for: 1 + 200 % = 3, within V8's own range (it picks about 2 to 4 from
 * its measured collection and mutator speeds).
 *
 * Every byte downloaded or read arrives in a fresh ArrayBuffer, and V8 counts external memory
 * allocated since the last full collection against the old generation's limit. With V8's own
 * factor an archive run on the benchmark's mixed 1 GiB made 61-66 full collections (one every
 * ~150 ms, about a tenth of its CPU); with 3 it makes 19-22 and runs 6-9 % faster, and a 2 GiB
 * file's peak RSS with PostgreSQL went down (175-179 MB against 181-197); 4 saved a little more CPU
 * for 15 MB more RSS. Not on the embedded database: PGlite keeps a larger heap live, and the same
 * factor of it raised that run's peak by about 20 MB (bench/README.md).
 */
export const HEAP_GROWING_PERCENT = 200;

const FLAG = '--heap-growing-percent';

/**
 * The V8 flag to set, or undefined when the operator chose a growth of their own on node's command
 * line (`node --heap-growing-percent=N bin/fileset-ingest.js ...`; NODE_OPTIONS cannot carry it).
 */
export function heapGrowthFlag(execArgv: readonly string[]): string | undefined {
  const own = execArgv.some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
  return own ? undefined : `${FLAG}=${HEAP_GROWING_PERCENT}`;
}

/** Sets the heap growth for this process unless the operator chose one. */
export function tuneHeapGrowth(): void {
  const flag = heapGrowthFlag(process.execArgv);
  if (flag) setFlagsFromString(flag);
}

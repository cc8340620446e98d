// Per-process spool directories under <data dir>/tmp: named by host and pid, so that a process
// can tell the ones a dead process of this host left (killed, out of memory, power loss) and
// remove them at start; nothing else ever would, and each crash would leave its files for good.
import { readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { pidAlive } from '../stores/warc/recovery.js';

/** This process's spool directory under `tmpRoot`. */
export function spoolDirName(host = hostname(), pid = process.pid): string {
  return `${host}-${pid}`;
}

/**
 * Removes the spool directories of this host's processes that are gone. Directories of live
 * processes and of other hosts (a data dir on shared storage) are left alone.
 */
export async function removeStaleSpoolDirs(tmpRoot: string, logger: Logger, host = hostname()): Promise<string[]> {
  const removed: string[] = [];
  const prefix = `${host}-`;
  for (const entry of await readdir(tmpRoot).catch(() => [] as string[])) {
    if (!entry.startsWith(prefix)) continue;
    const pid = entry.slice(prefix.length);
    if (!/^\d+$/.test(pid) || pidAlive(Number(pid))) continue;
    await rm(join(tmpRoot, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  if (removed.length) logger.warn({ dirs: removed }, 'removed the spool directories of processes that are gone');
  return removed;
}

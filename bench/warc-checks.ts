// What the benchmarks check and measure on the WARCs a run wrote: jwarc validation of every file,
// compressed size per captured URL from the capture index, and the time of the commands that read
// the archive back (cdxj, verify).
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { validateWarc, warcProblems } from '../test/support/jwarc.js';
import { runCli, type Timed } from './lib.js';

/** jwarc `validate` on every closed WARC file in `dir`: one line per problem (exit code, stderr, ERROR lines). */
export async function warcValidationProblems(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.warc.gz'));
  if (names.length === 0) return [`no WARC file in ${dir}`];
  const problems: string[] = [];
  for (const name of names) {
    for (const problem of warcProblems(await validateWarc(join(dir, name)))) problems.push(`${name}: ${problem}`);
  }
  return problems;
}

/** Compressed bytes of the response records, by URL, from the run's capture index. */
export async function responseSizes(databaseUrl: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ url: string; csize: string }>(
      "SELECT url, warc_csize AS csize FROM capture WHERE record_type = 'response'",
    );
    return new Map(rows.map((row) => [row.url, Number(row.csize)]));
  } finally {
    await client.end();
  }
}

export interface ReadBack {
  cdxj: Timed;
  verify: Timed;
}

/** Times `cdxj` (to /dev/null) and `verify` (the whole data dir, exit 0 when intact) on the data a run left. */
export async function timeReadBack(dataDir: string, vars: Record<string, string | undefined>): Promise<ReadBack> {
  const cdxj = await runCli(['cdxj', '--output', '/dev/null'], dataDir, vars);
  const verify = await runCli(['verify'], dataDir, vars);
  return { cdxj, verify };
}

// By hand (not CI): the result lines and WARC files of every platform site and strategy, as the
// consumer contract test makes them, written to a directory for the real consumers to read:
//   <out>/results.jsonl   one fileset result per line (each dataset ingested twice)
//   <out>/warcs/*.warc.gz every WARC file written
// Usage: npx tsx scripts/consumers/results.ts <out dir>   (needs PostgreSQL, as npm test does)
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { consumerRuns } from '../../test/support/consumer-runs.js';
import { warcFiles } from '../../test/support/runtime.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: npx tsx scripts/consumers/results.ts <out dir>\n');
  process.exit(2);
}
await mkdir(join(out, 'warcs'), { recursive: true });
const made = await consumerRuns();
try {
  const lines: string[] = [];
  for (const run of made.runs) {
    for (const result of run.results) lines.push(JSON.stringify(result));
    for (const warc of await warcFiles(run.rt.warcDir))
      await copyFile(join(run.rt.warcDir, warc), join(out, 'warcs', warc));
  }
  await writeFile(join(out, 'results.jsonl'), `${lines.join('\n')}\n`);
  process.stderr.write(`${lines.length} results and their WARCs in ${out}\n`);
} finally {
  await made.dispose();
}

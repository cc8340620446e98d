// `npm run bench [-- throughput|rss ...] [--write]`: runs the benchmarks (default: all), prints their
// tables. Writes nothing inside the repository except, with --write, the figures sections of
// bench/README.md (between <!-- figures:<name>:start --> and <!-- figures:<name>:end -->).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { afterInterrupt, log, machine, REPO, type BenchReport } from './lib.js';
import { archiveorgBench } from './archiveorg.js';
import { budgetsBench } from './budgets.js';
import { crashBench } from './crash.js';
import { kafkaBench } from './kafka.js';
import { persistBench } from './persist.js';
import { rssBench } from './rss.js';
import { throughputBench } from './throughput.js';
import { verifyBench } from './verify.js';

const BENCHES: Record<string, { title: string; run: () => Promise<BenchReport> }> = {
  throughput: { title: 'web-fileset throughput vs wget', run: throughputBench },
  rss: { title: 'Peak RSS archiving one large file', run: rssBench },
  archiveorg: { title: 'archiveorg-fileset throughput and peak RSS (fs item store)', run: archiveorgBench },
  persist: { title: 'Persist throughput: batched upserts vs COPY', run: persistBench },
  kafka: { title: 'End-to-end small-dataset throughput through Kafka (1, 2 and 3 ingest workers)', run: kafkaBench },
  verify: { title: '`fileset-ingest verify` throughput on the WARCs of 1 GiB', run: verifyBench },
  budgets: { title: 'Request budgets: cost per request, in process and shared in PostgreSQL', run: budgetsBench },
  crash: {
    title: 'Fault run: SIGKILLs, a broker restart, a database restart and a WARC store outage under load',
    run: crashBench,
  },
};

const USAGE = `Usage: npm run bench -- [${Object.keys(BENCHES).join('|')} ...] [--write]
Environment: BENCH_SCALE (size multiplier, default 1), BENCH_RUNS (throughput runs, default 3),
BENCH_TMPDIR (where test files go, default the OS temp dir), FILESET_TEST_DATABASE_URL.`;

async function writeFigures(name: string, markdown: string): Promise<void> {
  const path = join(REPO, 'bench', 'README.md');
  const text = await readFile(path, 'utf8');
  const start = `<!-- figures:${name}:start -->`;
  const end = `<!-- figures:${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${path}: markers ${start} … ${end} not found`);
  await writeFile(path, `${text.slice(0, from + start.length)}\n${markdown}\n${text.slice(to)}`);
  log(`wrote the ${name} figures to bench/README.md`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { write: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const unknown = positionals.filter((p) => !BENCHES[p]);
  if (unknown.length) {
    process.stderr.write(`unknown benchmark: ${unknown.join(', ')}\n${USAGE}\n`);
    return 2;
  }
  let failed = false;
  for (const name of positionals.length ? positionals : Object.keys(BENCHES)) {
    const bench = BENCHES[name]!;
    const started = new Date();
    const header = `Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}.`;
    log(`${name}: ${bench.title}`);
    const report = await bench.run();
    const markdown = `${header}\n\n${report.markdown}`;
    process.stdout.write(`\n## ${bench.title}\n\n${markdown}\n`);
    if (report.invalid.length) {
      failed = true;
      process.stdout.write(
        `\nVOID: a run did not succeed, these figures mean nothing:\n${report.invalid.join('\n')}\n`,
      );
    } else if (values.write) {
      await writeFigures(name, markdown);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main().catch(async (err: unknown) => {
  await afterInterrupt();
  throw err;
});

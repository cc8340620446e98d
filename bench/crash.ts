// Fault run at full scale: 200 distinct Zenodo-shaped datasets (× BENCH_SCALE) through three
// `worker ingest` processes and one `worker persist` on a private broker and a private PostgreSQL,
// with 20 SIGKILLs at random points of the work, one broker restart, one database restart and one
// outage of the WARC store (test/support/fleet-faults.ts; test/kafka/fleet-faults.test.ts runs it small). Prints the counts;
// any lost request, duplicate row, uncommitted offset, invalid WARC or leftover file voids the run.
import { runFaultRun, type FaultRunCounts } from '../test/support/fleet-faults.js';
import { benchScale, envNumber, fmt, log, markdownTable, type BenchReport } from './lib.js';

export async function crashBench(): Promise<BenchReport> {
  const requests = Math.max(24, Math.round(200 * benchScale()));
  const kills = Math.max(4, Math.round(envNumber('BENCH_CRASH_KILLS', 20)));
  log(`${requests} requests, 3 ingest workers + persist, ${kills} SIGKILLs, a broker and a PostgreSQL restart`);
  const c = await runFaultRun({
    requests,
    ingestWorkers: 3,
    kills,
    brokerRestart: true,
    postgresRestart: true,
    storeOutageMs: 15_000,
    spooledEvery: 10,
    timeoutMs: 30 * 60_000,
    log,
  });
  return { markdown: report(c, kills), invalid: violations(c, kills) };
}

/** Every invariant the run must keep; each broken one is a line. */
function violations(c: FaultRunCounts, kills: number): string[] {
  const out: string[] = [];
  const expect = (ok: boolean, what: string) => void (ok || out.push(what));
  expect(c.kills.ingest + c.kills.persist === kills, `${c.kills.ingest + c.kills.persist} kills, not ${kills}`);
  expect(c.brokerRestarts === 1 && c.postgresRestarts === 1, 'a restart did not happen');
  expect(c.storeOutages === 1, 'the WARC store outage did not happen');
  expect(c.missing.length === 0, `requests without a row: ${c.missing.join(', ')}`);
  expect(c.platformRows === c.requests, `${c.platformRows} ingest_fileset_platform rows`);
  expect(c.ingestFileResultRows === c.requests, `${c.ingestFileResultRows} ingest_file_result rows`);
  expect(c.ingestRequestRows === c.requests, `${c.ingestRequestRows} ingest_request rows`);
  expect(c.fileMetaFound === c.files, `${c.fileMetaFound} of ${c.files} file_meta rows`);
  const bad = Object.keys(c.statuses).filter((s) => s !== 'success' && s !== 'success-existing');
  expect(bad.length === 0, `statuses ${JSON.stringify(c.statuses)}`);
  expect(c.ingestOffsetsCommitted && c.persistOffsetsCommitted, 'offsets not committed to the end');
  expect(c.warcFiles > 0 && c.warcsValid === c.warcFiles, `WARCs: ${c.warcProblems.join('; ')}`);
  expect(c.warcsNotShipped.length === 0, `WARCs not shipped: ${c.warcsNotShipped.join(', ')}`);
  expect(c.captureRowsLocal === 0 && c.captureRowsWithoutFile === 0, 'captures naming no shipped file');
  expect(c.storeTempFiles.length === 0, `partial copies in the store: ${c.storeTempFiles.join(', ')}`);
  expect(c.openFiles.length + c.corruptFiles.length === 0, `left: ${[...c.openFiles, ...c.corruptFiles].join(', ')}`);
  expect(c.orphanFiles.length === 0, `orphan files: ${c.orphanFiles.join(', ')}`);
  expect(c.unexpectedExits.length === 0, `workers that exited by themselves: ${c.unexpectedExits.join('\n')}`);
  expect(
    c.stopCodes.every((code) => code === 0),
    `exit codes after SIGTERM: ${c.stopCodes.join(', ')}`,
  );
  return out;
}

function report(c: FaultRunCounts, kills: number): string {
  const rows: Array<[string, string]> = [
    ['requests produced', String(c.requests)],
    [
      'SIGKILLs (ingest workers + persist worker)',
      `${c.kills.ingest + c.kills.persist} (${c.kills.ingest} + ${c.kills.persist})`,
    ],
    [
      'broker restarts / PostgreSQL restarts / WARC store outages',
      `${c.brokerRestarts} / ${c.postgresRestarts} / ${c.storeOutages}`,
    ],
    ['workers that exited by themselves (besides those below)', String(c.unexpectedExits.length)],
    [
      'workers that exited for a service outage, restarted after 1 s ("cannot use … at" on start, "Kafka consumer stopped")',
      String(c.exitsForServiceOutage),
    ],
    ['`ingest_fileset_platform` rows (distinct base_url)', `${c.platformRows} (${c.platformDistinct})`],
    ['requests without a row', String(c.missing.length)],
    [
      'statuses',
      Object.entries(c.statuses)
        .map(([s, n]) => `${s} ${n}`)
        .join(', '),
    ],
    ['`ingest_file_result` / `ingest_request` rows', `${c.ingestFileResultRows} / ${c.ingestRequestRows}`],
    ["`file_meta` rows of the datasets' files", `${c.fileMetaFound} of ${c.files}`],
    ['`cdx` rows (landing captures; a redelivered request captures its landing page again)', String(c.cdxRows)],
    [
      'results on the result topic (requests answered more than once)',
      `${c.resultMessages} (${c.requestsAnsweredMoreThanOnce})`,
    ],
    [
      'capture index: second response captures of a URL / revisit records',
      `${c.duplicateResponseCaptures} / ${c.revisitCaptures}`,
    ],
    ['failed shipping attempts tried again (logged by the workers)', String(c.shipRetries)],
    ['WARC files shipped to the store / valid under jwarc', `${c.warcFiles} / ${c.warcsValid}`],
    [
      'WARC files left unshipped in the data dirs / partial copies in the store',
      `${c.warcsNotShipped.length} / ${c.storeTempFiles.length}`,
    ],
    [
      'capture-index rows naming no shipped file / still naming a local file',
      `${c.captureRowsWithoutFile} / ${c.captureRowsLocal}`,
    ],
    [
      'records in the WARCs (jwarc cdx) / response records not in the capture index',
      `${c.warcRecords} / ${c.unindexedResponseRecords}`,
    ],
    ['`.open` / `.corrupt` files left', `${c.openFiles.length} / ${c.corruptFiles.length}`],
    ['files left in tmp/ and work/', String(c.orphanFiles.length)],
    [
      'committed offsets = end offsets (ingest group / persist group)',
      `${c.ingestOffsetsCommitted} / ${c.persistOffsetsCommitted}`,
    ],
    ['budget leases still held after the stop', String(c.budgetLeasesLeft)],
    ['exit codes after the final SIGTERM', c.stopCodes.join(', ')],
    ['wall s (produce → every worker stopped)', fmt(c.wallS, 0)],
  ];
  const timeline = c.events.map((e) => `${fmt(e.atS, 1)} s ${e.what}`).join('; ');
  return [
    `${c.requests} distinct Zenodo-shaped datasets (two small files each, every 10th a third of 1.5 MB that is spooled to disk; ` +
      `file answers delayed 100–800 ms) through 3 \`worker ingest\` processes (\`FILESET_WORKER_CONCURRENCY=4\`, own data dirs) ` +
      `and one \`worker persist\` (batches of 10, linger 200 ms), on a private Kafka broker (6 partitions) and a private PostgreSQL ` +
      `server. ${kills} SIGKILLs spread evenly over the four processes in random order, each at a random point of the work ` +
      `(by the file server's request count), the killed process restarted at once; one broker restart (stop, 2 s down, start ` +
      `on its data), one PostgreSQL restart (fast shutdown, 3 s down) and one 15 s outage of the WARC store ` +
      `(\`FILESET_WARC_STORE=fs://…/shipped\`, WARCs rolled over at 1 MB so that files close and ship during the run; ` +
      `the store's directory replaced by a plain file). Workers run with a 10 s consumer session.`,
    '',
    markdownTable(
      ['count', 'value'],
      rows.map(([a, b]) => [a, b]),
    ),
    '',
    `Timeline: ${timeline}.`,
  ].join('\n');
}

// `fileset-ingest ingest`, `requests` and `inspect`: the pipeline run in this process on one URL or
// on JSON-lines requests, results (or the inspect report) on stdout. Loaded only by these commands:
// the pipeline brings every platform helper and the HTML parser.
import type { Config } from '../config.js';
import { describeError, InfrastructureError, UsageError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ingestFileset, type IngestOutcome, type ProgressEvent } from '../pipeline/ingest.js';
import { openRuntime, type Runtime, type RuntimeOptions } from '../pipeline/runtime.js';
import { retry } from '../retry.js';
import { checkInput, inputOf, jsonLines } from './json-lines.js';
import type { ProgressDisplay } from './progress.js';

function oneUrl(args: string[]): string {
  if (args.length !== 1 || !args[0]) throw new UsageError('expected exactly one URL or DOI');
  return args[0];
}

function printOutcome(outcome: IngestOutcome): void {
  if (outcome.fileResult) process.stdout.write(`${JSON.stringify(outcome.fileResult)}\n`);
  process.stdout.write(`${JSON.stringify(outcome.result)}\n`);
}

async function withRuntime<T>(
  config: Config,
  logger: Logger,
  options: RuntimeOptions,
  fn: (runtime: Runtime) => Promise<T>,
): Promise<T> {
  const runtime = await openRuntime(config, logger, options);
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

/** `ingest <url>`: exit 0 when the result is a hit, 1 when not. */
export async function ingest(
  config: Config,
  logger: Logger,
  args: string[],
  { force, display }: { force: boolean; display: ProgressDisplay | undefined },
): Promise<number> {
  const url = oneUrl(args);
  return withRuntime(config, logger, {}, async (runtime) => {
    const deps = display
      ? { ...runtime.deps, onProgress: (event: ProgressEvent) => display.onProgress(event) }
      : runtime.deps;
    const outcome = await ingestFileset(
      { base_url: url, ingest_type: 'dataset', ...(force ? { force_recrawl: true } : {}) },
      deps,
    );
    printOutcome(outcome);
    return outcome.result.hit ? 0 : 1;
  });
}

/** Statuses that mean the dataset is beyond a configured limit (inspect reports them as `limit_hit`). */
const LIMIT_STATUSES: ReadonlySet<string> = new Set(['too-many-files', 'too-large-size', 'body-too-large']);

/** `inspect <url>`: what an ingest would do, nothing downloaded that may be the dataset itself. */
export async function inspect(config: Config, logger: Logger, args: string[]): Promise<number> {
  const url = oneUrl(args);
  return withRuntime(config, logger, { dryRun: true }, async (runtime) => {
    const { result, ready } = await ingestFileset({ base_url: url, ingest_type: 'dataset' }, runtime.deps, {
      dryRun: true,
    });
    const report = {
      status: ready ? 'ready' : result.status,
      ...(result.error_message ? { error_message: result.error_message } : {}),
      platform_name: result.platform_name ?? null,
      platform_domain: result.platform_domain ?? null,
      platform_id: result.platform_id ?? null,
      platform_base_url: result.platform_base_url ?? null,
      platform_bundle_url: result.platform_bundle_url ?? null,
      archiveorg_item_name: result.archiveorg_item_name ?? null,
      manifest: result.manifest ?? [],
      file_count: result.file_count ?? 0,
      total_size: result.total_size ?? 0,
      ingest_strategy: result.ingest_strategy ?? null,
      limits: { max_total_size: config.limits.maxTotalSize, max_file_count: config.limits.maxFileCount },
      limit_hit: LIMIT_STATUSES.has(result.status)
        ? { status: result.status, message: result.error_message ?? null }
        : null,
      hops: result.hops ?? [],
      html_biblio: result.html_biblio ?? null,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return ready || report.status.startsWith('success') ? 0 : 1;
  });
}

const INFRA_RETRIES = 3;

/** `requests [file|-]`: JSON-lines requests in, results out; exit 3 after an infrastructure failure. */
export async function requests(
  config: Config,
  logger: Logger,
  args: string[],
  concurrencyText?: string,
): Promise<number> {
  const concurrency = concurrencyText === undefined ? 1 : Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UsageError('--concurrency must be a positive integer');
  if (args.length > 1) throw new UsageError('expected at most one input file');
  await checkInput(args[0]);
  const input = inputOf(args[0]);
  return withRuntime(config, logger, {}, async (runtime) => {
    const running = new Set<Promise<void>>();
    let failed: unknown;
    for await (const line of jsonLines(input)) {
      if (failed) break;
      if ('notJson' in line) {
        process.stderr.write(`line ${line.number}: ${line.notJson}, skipped\n`);
        continue;
      }
      const { number } = line;
      const task = ingestWithRetries(line.value, runtime, logger, number)
        .then(printOutcome)
        .catch((err: unknown) => {
          failed ??= err;
          process.stderr.write(`line ${number}: infrastructure failure, stopping: ${describeError(err)}\n`);
        })
        .finally(() => running.delete(task));
      running.add(task);
      if (running.size >= concurrency) await Promise.race(running);
    }
    await Promise.all(running);
    return failed ? 3 : 0;
  });
}

/** Infrastructure failures are retried with backoff, never turned into a result. */
function ingestWithRetries(request: unknown, runtime: Runtime, logger: Logger, line: number): Promise<IngestOutcome> {
  return retry(() => ingestFileset(request, runtime.deps), {
    retries: INFRA_RETRIES,
    backoff: { baseMs: 1000, maxMs: 1000 * 2 ** INFRA_RETRIES },
    retryable: (err) => err instanceof InfrastructureError,
    onRetry: (err, attempt, delay) =>
      logger.warn({ err, line, attempt, delay }, 'infrastructure error, retrying the request'),
  });
}

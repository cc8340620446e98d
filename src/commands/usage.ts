// The commands' usage texts, apart from their code: `fileset-ingest --help` and the command line
// parser need them without loading what each command runs on (kafkajs, prom-client, warcio...).
import { DRAIN_GRACE_MS } from '../kafka/drain.js';

export const persistUsage = `Usage: fileset-ingest persist [file|-] [config flags]

Reads fileset results as JSON lines ("-" or no file: stdin) and writes them to the sandcrawler
tables (ingest_request, ingest_file_result, ingest_fileset_platform, cdx, file_meta) of
FILESET_DATABASE_URL (or the embedded database), applying the migrations first. Results go in
batches of FILESET_PERSIST_BATCH_SIZE, one transaction each; persisting the same lines again
changes nothing. Dataset-file result lines are skipped (counted); a line that is not JSON is
reported on stderr ("line N: ...") and skipped.
Each result is written whole or not at all: one with a value a table refuses (a malformed hash
or date, a NUL, a key too long for an index) is checked out before any of its rows is written.
stdout: one summary line {"results", "rows" (inserted or changed, by table), "rejected" (each
refused result with its key, the table and the reason), "skipped" (counts by reason)}.
Exit status: 0 when every line was persisted or skipped on purpose, 1 when a line was not JSON or
a result was rejected, 2 on bad usage, 3 when the database failed (batches already
committed stay; run the command again).`;

export const produceUsage = `Usage: fileset-ingest produce --topic TOPIC [file|-] [config flags]

Reads ingest requests as JSON lines ("-" or no file: stdin), checks each against the request
schema and sends the good ones to TOPIC on FILESET_KAFKA_BROKERS, keyed by base_url, in batches,
each acknowledged by all in-sync replicas. A bad line is reported on stderr ("line N: ...") and
not sent. stdout: {"produced": n, "rejected": m}.
Exit status: 0 when every line was sent, 1 when some were rejected, 2 on bad usage, 3 when
Kafka could not be reached.`;

export const topicsUsage = `Usage: fileset-ingest topics create [config flags]

Creates the request topics (FILESET_KAFKA_REQUEST_TOPICS), the fileset results topic and the
file results topic on FILESET_KAFKA_BROKERS, each with FILESET_KAFKA_PARTITIONS partitions and
FILESET_KAFKA_REPLICATION replicas. Topics that already exist are left as they are and reported.
stdout: {"created": [...], "existing": [...]}.`;

export const statusUsage = `Usage: fileset-ingest status [--json] [config flags]

What is archived, from the configured database (FILESET_DATABASE_URL or the embedded one) and
the WARC directory (<FILESET_DATA_DIR>/warcs): captured files, bytes and WARC files in the
capture index (landing pages, files, error pages); datasets, their files, bytes and items, counted by status with the time of the
last run, from the results persisted to the sandcrawler tables (persist, worker persist); the
last few runs; with FILESET_WARC_STORE, the WARC files waiting on this machine to be shipped
there and those shipped. A table on stdout, or one JSON object with --json. Writes nothing.`;

export const verifyUsage = `Usage: fileset-ingest verify [--since T] [--metrics-file F] [config flags]

Audits what FILESET_DATA_DIR holds, from the files alone (no database needed): every closed WARC
file under warcs/ (read with warcio: one record per gzip member, block and payload digests,
Content-Length, request/response pairing, revisit originals), and every item of the item store:
fs (files.json sizes and md5/sha1/sha256 against the bytes, previous versions, notes) or s3 (each
object read back against the size and hashes the store recorded with it); ias3 items are not
audited. With FILESET_WARC_STORE, the WARC files shipped there too (fs:// in place, s3://
downloaded one at a time; an ias3:// store is not audited).
  --since T          only WARC files and items written at or after T (ISO 8601 date or time, or
                     Unix seconds); revisits whose original is older are counted as unchecked
  --metrics-file F   also write the figures in Prometheus text format to F (for node_exporter's
                     textfile collector), replacing it atomically
stdout: one line per problem, "<file>@<offset>: <what>" or "<item>/<path>: <what>", then a
summary line {"warc_files", "shipped_warc_files", "records", "payload_bytes", "items", "item_files", "problems",
"unchecked_revisits", "seconds"}.
Exit status: 0 when everything is intact, 1 when a problem was found, 2 on bad usage, 3 when the
audit itself failed.`;

export const workerIngestUsage = `Usage: fileset-ingest worker ingest [config flags]

Consumes ingest requests from FILESET_KAFKA_REQUEST_TOPICS (group sandcrawler-{env}-ingest-fileset),
archives every "dataset" request (other ingest types are skipped and counted), and produces
each fileset result to sandcrawler-{env}.ingest-fileset-results and each dataset-file result
to sandcrawler-{env}.ingest-file-results, keyed by base_url. A request's offset is committed
only after its results were acknowledged. FILESET_WORKER_CONCURRENCY requests run at once.
Prometheus metrics on http://FILESET_METRICS_HOST:FILESET_METRICS_PORT/metrics, /healthz and /readyz (port 0: off).
SIGTERM or SIGINT: stop taking requests, let those in flight finish for up to
${DRAIN_GRACE_MS / 1000} s (the rest are redelivered later), commit, exit 0. A second signal
ends the process at once (what is uncommitted is redelivered).
Exit status 3 when Kafka, the database or the disk fail at start or for good.`;

export const workerPersistUsage = `Usage: fileset-ingest worker persist [config flags]

Consumes fileset results from sandcrawler-{env}.ingest-fileset-results as consumer group
sandcrawler-{env}-persist-ingest-fileset and writes them to FILESET_DATABASE_URL: ingest_request,
ingest_file_result, ingest_fileset_platform, cdx and file_meta. One transaction per batch of at
most FILESET_PERSIST_BATCH_SIZE results, waiting at most FILESET_PERSIST_LINGER_MS to fill one.
Offsets are committed only after the transaction; while the database is down the same batch is
retried, never skipped. A message that is not JSON is logged, counted and committed past.
Applies pending migrations first. Prometheus metrics on
http://FILESET_METRICS_HOST:FILESET_METRICS_PORT/metrics, /healthz and /readyz (port 0: off).
Runs until SIGTERM or SIGINT, then finishes the current batch, commits and exits 0.
Exit status: 2 on bad usage, 3 when the database or the broker cannot be used.`;

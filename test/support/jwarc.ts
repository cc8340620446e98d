/**
 * Test helper: validate WARC files with jwarc (https://github.com/iipc/jwarc), an
 * independent Java WARC implementation fetched by scripts/fetch-jars.sh.
 *
 * `jwarc validate -v FILE` output (jwarc 0.36.0):
 * - stdout: "Validating FILE", then per record "NAME:   offset N (length N) TYPE CONTENT-TYPE"
 *   followed by indented detail lines ("    block digest pass", "    payload digest pass",
 *   "    ERROR: block digest failed: ...", "    ERROR: Missing mandatory field: ...").
 * - stderr: "Failed to validate FILE" when a record failed, or "Exception validating FILE: ..."
 *   plus a stack trace for unreadable input (truncated/corrupt gzip, garbage).
 * - exit code: 1 if a record or the file failed, else 0. BUT header-rule violations on
 *   capture records (response/resource/request/...; e.g. a missing WARC-Record-ID) are
 *   printed as ERROR and still exit 0, and an empty file exits 0 with no record at all.
 *   Hence expectValidWarc also inspects the output.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface WarcValidation {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Path of the jwarc CLI jar (FILESET_JWARC_JAR, else the fetch-jars.sh cache location). */
export function jwarcJarPath(): string {
  const explicit = process.env.FILESET_JWARC_JAR;
  if (explicit) return explicit;
  const cache =
    process.env.FILESET_TOOLS_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'fileset-ingest');
  return join(cache, 'jwarc', 'jwarc.jar');
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Runs `java -jar jwarc.jar validate -v FILE` (verbose: one block of lines per record). */
export function validateWarc(path: string): Promise<WarcValidation> {
  return runJwarc(['validate', '-v', path]);
}

/** One line of `jwarc cdx` (CDX11: urlkey timestamp url mime status digest redirect meta length offset filename). */
export interface JwarcCdxLine {
  urlkey: string;
  timestamp: string;
  url: string;
  mime: string;
  status: string;
  digest: string;
  offset: number;
}

/** What jwarc's own indexer lists for WARC files: every record it would offer for replay. */
export async function jwarcCdx(paths: string[]): Promise<JwarcCdxLine[]> {
  const result = await runJwarc(['cdx', '--no-header', ...paths]);
  if (result.exitCode !== 0) throw new Error(`jwarc cdx failed (${result.exitCode}): ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [urlkey, timestamp, url, mime, status, digest, , , , offset] = line.split(' ');
      return {
        urlkey: urlkey!,
        timestamp: timestamp!,
        url: url!,
        mime: mime!,
        status: status!,
        digest: digest!,
        offset: Number(offset),
      };
    });
}

async function runJwarc(args: string[]): Promise<WarcValidation> {
  const jar = jwarcJarPath();
  if (!existsSync(jar)) {
    throw new Error(`jwarc jar not found at ${jar}: run scripts/fetch-jars.sh`);
  }
  return new Promise((resolve, reject) => {
    execFile(
      javaBin(),
      ['-jar', jar, ...args],
      { maxBuffer: 256 * 1024 * 1024, timeout: 300_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          // Spawn failure, timeout or signal: not a validation verdict.
          reject(new Error(`running jwarc failed: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ exitCode: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

// JVM notices that are not jwarc's output.
const JVM_NOISE = /^(NOTE: )?Picked up (JAVA_TOOL_OPTIONS|JDK_JAVA_OPTIONS|_JAVA_OPTIONS):/;
// A record header line in verbose output: "NAME:   offset 0 (length 274) warcinfo ...".
const RECORD_LINE = /^.*:\s+offset \d+ \(length \d+\) /;
// Lines that report a problem (detail lines are indented by 4 spaces).
const PROBLEM_LINES = [
  /^\s*ERROR\b/,
  /^\S.*: ERROR\b/,
  /^Failed to validate /,
  /^Exception validating /,
  /^\s+(payload|block) digest unknown algorithm/,
  /^\s+block digest not calculated/,
  /^\S.*:\s+offset \d+ \(length \d+\) .* failed$/,
];

/** Returns the problems found in a validation result (empty when the WARC is valid). */
export function warcProblems(result: WarcValidation): string[] {
  const problems: string[] = [];
  if (result.exitCode !== 0) problems.push(`exit code ${result.exitCode}`);
  const stderrLines = result.stderr.split('\n').filter((l) => l.trim() !== '' && !JVM_NOISE.test(l));
  if (stderrLines.length > 0) problems.push(`stderr: ${stderrLines[0]}`);
  const stdoutLines = result.stdout.split('\n');
  for (const line of stdoutLines) {
    if (PROBLEM_LINES.some((re) => re.test(line))) problems.push(line.trim());
  }
  if (!stdoutLines.some((l) => RECORD_LINE.test(l))) problems.push('no WARC record found');
  return problems;
}

/**
 * Throws (with the validator's output in the message) unless `jwarc validate` exits 0
 * with an empty stderr, reports no ERROR/failed record, and read at least one record.
 * Digests in an algorithm jwarc cannot compute also count as failures (nothing was checked).
 */
export async function expectValidWarc(path: string): Promise<void> {
  const result = await validateWarc(path);
  const problems = warcProblems(result);
  if (problems.length > 0) {
    throw new Error(
      `jwarc rejects ${path}: ${problems.slice(0, 5).join('; ')}\n` +
        `--- jwarc exit code ${result.exitCode}\n--- stdout:\n${result.stdout}--- stderr:\n${result.stderr}`,
    );
  }
}

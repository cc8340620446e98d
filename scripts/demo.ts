// `npm run demo`: archives a recorded Zenodo dataset offline with the real CLI on the embedded
// default, twice, then validates the WARC files with jwarc and shows where everything went.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { FixtureServer } from '../test/support/fixture-server.js';
import { recordFiles, serveZenodoRecord } from '../test/support/zenodo-site.js';

const ROOT = join(import.meta.dirname, '..');
const DATA_DIR = join(ROOT, 'data', 'demo');
const RECORD = '7078760';
const DOI_URL = `https://doi.org/10.5281/zenodo.${RECORD}`;

interface Result {
  status: string;
  ingest_strategy?: string;
  manifest?: Array<{
    path: string;
    size: number;
    md5: string;
    sha1: string;
    sha256: string;
    mimetype: string;
    status: string;
  }>;
}

/** Runs the CLI asynchronously: the fixture server lives in this process and must keep answering. */
function runCli(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'fileset-ingest.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(stdout) : reject(new Error(`fileset-ingest ${args.join(' ')} exited ${code}:\n${stderr}`)),
    );
  });
}

async function main(): Promise<void> {
  const server = await FixtureServer.start();
  serveZenodoRecord(server, 'zenodo_record_7078760.json', {
    files: recordFiles(RECORD, ['data2.csv', 'data.csv', 'datapackage.json']),
  });
  await rm(DATA_DIR, { recursive: true, force: true });
  const env = {
    FILESET_DATA_DIR: DATA_DIR,
    FILESET_HTTP_REWRITE: `https://zenodo.org=${server.origin},https://doi.org=${server.origin}`,
    FILESET_LOG_LEVEL: 'warn',
  };
  try {
    console.log(`Recorded Zenodo record ${RECORD} served at ${server.origin} (rewriting zenodo.org and doi.org)\n`);
    for (const attempt of ['first run', 'second run']) {
      console.log(`$ fileset-ingest ingest ${DOI_URL}    # ${attempt}`);
      const lines = (await runCli(['ingest', DOI_URL], env)).trim().split('\n');
      const result = JSON.parse(lines.at(-1)!) as Result;
      console.log(`status: ${result.status}, strategy: ${result.ingest_strategy}`);
      for (const e of result.manifest ?? []) {
        console.log(
          `  ${e.status.padEnd(8)} ${e.path.padEnd(18)} ${String(e.size).padStart(5)} B  ${e.mimetype.padEnd(16)} md5 ${e.md5}  sha1 ${e.sha1.slice(0, 12)}…  sha256 ${e.sha256.slice(0, 12)}…`,
        );
      }
      console.log();
    }
  } finally {
    await server.close();
  }

  const warcDir = join(DATA_DIR, 'warcs');
  const warcs = (await readdir(warcDir)).filter((f) => f.endsWith('.warc.gz'));
  console.log(`WARC files in ${relative(process.cwd(), warcDir)}/:`);
  for (const warc of warcs) console.log(`  ${warc}  ${(await stat(join(warcDir, warc))).size} bytes`);
  console.log(`Capture index: embedded PostgreSQL (PGlite) in ${relative(process.cwd(), join(DATA_DIR, 'pglite'))}/`);
  const cdxj = (await runCli(['cdxj'], env)).trim().split('\n');
  console.log(`CDXJ (fileset-ingest cdxj), ${cdxj.length} lines, first: ${cdxj[0]}`);

  // Validation needs Java and the jwarc jar only (fetched once with curl, no Maven).
  const fetched =
    spawnSync('java', ['-version']).status === 0
      ? spawnSync('bash', [join(ROOT, 'scripts', 'fetch-jars.sh'), 'jwarc'], { encoding: 'utf8' })
      : undefined;
  if (!fetched) {
    console.log('java not found: skipped jwarc validation');
  } else if (fetched.status !== 0) {
    console.log(`jwarc not available (${fetched.stderr.trim().split('\n').at(-1)}): skipped jwarc validation`);
  } else {
    const { expectValidWarc } = await import('../test/support/jwarc.js');
    for (const warc of warcs) await expectValidWarc(join(warcDir, warc));
    console.log(`jwarc validate: ${warcs.length} WARC file(s) valid (exit 0, empty stderr)`);
  }
  if (!existsSync(warcDir)) process.exitCode = 1;
}

await main();

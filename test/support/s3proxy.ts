/**
 * Test harness: a real S3 server for the s3 item store. S3Proxy (org.gaul:s3proxy, its standalone
 * jar-with-dependencies build from Maven Central, fetched by scripts/fetch-jars.sh) runs with the
 * jclouds `filesystem` provider in a temporary directory, with a fixed test key (AWS v2/v4
 * signatures checked), on a port of 127.0.0.1 the OS picks: S3Proxy is told port 0 and the port
 * is read from Jetty's "Started ServerConnector ... {127.0.0.1:PORT}" line, so two test files never
 * race for a port. `stop()` kills the JVM and removes the directory.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../src/config.js';

const scriptsDir = fileURLToPath(new URL('../../scripts/', import.meta.url));
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 10_000;

export interface S3Proxy {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A bucket created at start. */
  bucket: string;
  /** S3Proxy's filesystem root: `<dir>/<bucket>/<key>`. */
  dataDir: string;
  /** FILESET_S3_* settings for a store on this server. */
  config(overrides?: Partial<Config['s3']>): Config['s3'];
  /** An SDK client of its own, for tests to look at the bucket directly. */
  client(): S3Client;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The S3Proxy jar: runs scripts/fetch-jars.sh (instant when cached) and reads FILESET_S3PROXY_JAR. */
export async function s3proxyJar(): Promise<string> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('bash', [join(scriptsDir, 'fetch-jars.sh')], { timeout: 600_000 }, (err, out, stderr) => {
      if (err) reject(new Error(`scripts/fetch-jars.sh failed: ${err.message}\n${stderr}`));
      else resolve(out);
    });
  });
  const jar = /^FILESET_S3PROXY_JAR=(.+)$/m.exec(stdout)?.[1];
  if (!jar) throw new Error(`scripts/fetch-jars.sh did not report FILESET_S3PROXY_JAR:\n${stdout}`);
  return jar;
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

export async function startS3Proxy(options: { bucket?: string } = {}): Promise<S3Proxy> {
  const jar = await s3proxyJar();
  const dir = await mkdtemp(join(tmpdir(), 's3proxy-'));
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const accessKeyId = 'fileset-test-key';
  const secretAccessKey = 'fileset-test-secret-never-logged';
  const region = 'us-east-1';
  const properties = join(dir, 's3proxy.properties');
  await writeFile(
    properties,
    [
      's3proxy.endpoint=http://127.0.0.1:0',
      's3proxy.authorization=aws-v2-or-v4',
      `s3proxy.identity=${accessKeyId}`,
      `s3proxy.credential=${secretAccessKey}`,
      'jclouds.provider=filesystem',
      `jclouds.filesystem.basedir=${dataDir}`,
      '',
    ].join('\n'),
  );

  const child = spawn(javaBin(), ['-Xmx256m', '-XX:TieredStopAtLevel=1', '-jar', jar, '--properties', properties], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Should this test process die without its teardown, the JVM must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stopProcess = async () => {
    await stopChild(child);
    process.off('exit', killOnExit);
  };
  const output: string[] = [];
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`S3Proxy did not start within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      );
      const watch = (stream: NodeJS.ReadableStream) => {
        let partial = '';
        stream.on('data', (chunk: Buffer) => {
          const lines = (partial + chunk.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            if (output.push(line) > 200) output.shift();
            const found = /ServerConnector.*\{127\.0\.0\.1:(\d+)\}/.exec(line);
            if (found) {
              clearTimeout(timer);
              resolve(Number(found[1]));
            }
          }
        });
      };
      watch(child.stdout!);
      watch(child.stderr!);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${javaBin()} (S3Proxy needs Java 17): ${err.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`S3Proxy exited while starting (code ${code}, signal ${signal})`));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(endpoint);
    const config = (overrides: Partial<Config['s3']> = {}): Config['s3'] => ({
      endpoint,
      region,
      accessKeyId,
      secretAccessKey,
      forcePathStyle: true,
      partSize: 5 * 1024 * 1024,
      ...overrides,
    });
    const client = () =>
      new S3Client({
        endpoint,
        region,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    const createBucket = async (name: string) => {
      const admin = client();
      try {
        await admin.send(new CreateBucketCommand({ Bucket: name }));
      } finally {
        admin.destroy();
      }
    };
    const bucket = options.bucket ?? 'fileset-items';
    await createBucket(bucket);
    return {
      endpoint,
      region,
      accessKeyId,
      secretAccessKey,
      bucket,
      dataDir,
      config,
      client,
      createBucket,
      stop: async () => {
        await stopProcess();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopProcess();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- S3Proxy output (tail):\n${output.join('\n')}`, { cause: err });
  }
}

/** Polls until the server answers HTTP at all (an unsigned request gets 403 AccessDenied). */
async function waitUntilAnswering(endpoint: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const response = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`S3Proxy does not answer on ${endpoint}`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** TERM, then KILL after STOP_TIMEOUT_MS; resolves once the process is gone. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * vitest globalSetup: fetches the external tools (jwarc, Kafka) and makes a real Kafka
 * broker available to the tests as inject('kafkaBrokers').
 *
 * - FILESET_TEST_NO_KAFKA=1 skips Kafka; kafkaBrokers is then ''.
 * - FILESET_TEST_KAFKA_PORT picks the broker port (default 9092).
 * - The broker is taken with `scripts/kafka.sh acquire <pid>`: it starts one unless one
 *   already runs, and records a lease for this test run. Tests start once it coordinates
 *   consumer groups (a fresh broker loads its offsets topic on the first group request). Teardown's `release` stops the
 *   broker only if a test harness started it and no other live test run holds a lease,
 *   so a broker you started yourself (`scripts/kafka.sh start`) is left running, and two
 *   concurrent test runs on one machine don't stop each other's broker.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { waitForGroupCoordinator } from './kafka.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** "host:port" of the test Kafka broker, or '' when FILESET_TEST_NO_KAFKA=1. */
    kafkaBrokers: string;
  }
}

const scriptsDir = fileURLToPath(new URL('../../scripts/', import.meta.url));

function run(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [scriptsDir + script, ...args], { timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`scripts/${script} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      } else {
        if (stderr.trim()) process.stderr.write(stderr);
        resolve(stdout);
      }
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await run('fetch-jars.sh', []);

  if (process.env.FILESET_TEST_NO_KAFKA === '1') {
    project.provide('kafkaBrokers', '');
    return async () => {};
  }

  const port = process.env.FILESET_TEST_KAFKA_PORT ?? '9092';
  const lease = String(process.pid);
  const out = await run('kafka.sh', ['acquire', lease]);
  if (/kafka: started/.test(out)) process.stderr.write(out);
  // No test's first consumer group should meet a broker still loading its offsets topic.
  await waitForGroupCoordinator(`127.0.0.1:${port}`);
  project.provide('kafkaBrokers', `127.0.0.1:${port}`);

  return async () => {
    await run('kafka.sh', ['release', lease]);
  };
}

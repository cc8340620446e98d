// A private single-node Kafka broker for fault tests (scripts/kafka.sh on free ports with its own
// state dir): restarting it keeps topics, messages and committed offsets, and never touches the
// shared test broker on 9092 that other test runs use.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './postgres-server.js';

const script = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));

export interface PrivateKafka {
  /** `127.0.0.1:<port>` */
  brokers: string;
  /** Stops the broker (TERM: a controlled shutdown) and starts it again on its kept data. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
  /** Stops the broker and removes its state dir. */
  destroy(): Promise<void>;
}

export async function startPrivateKafka(): Promise<PrivateKafka> {
  const dir = await mkdtemp(join(tmpdir(), 'fileset-kafka-private-'));
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const env = {
    ...process.env,
    FILESET_TEST_KAFKA_PORT: String(port),
    FILESET_TEST_KAFKA_CONTROLLER_PORT: String(controllerPort),
    FILESET_KAFKA_DIR: dir,
  };
  const kafkaSh = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      execFile('bash', [script, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`scripts/kafka.sh ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      });
    });
  await kafkaSh('start');
  return {
    brokers: `127.0.0.1:${port}`,
    async restart(options = {}) {
      await kafkaSh('stop');
      if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs));
      await kafkaSh('start', '--keep-data');
    },
    async stop() {
      await kafkaSh('stop');
    },
    async destroy() {
      await kafkaSh('stop').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

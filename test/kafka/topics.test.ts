// `fileset-ingest topics create` against the test broker: partitions from config, idempotent.
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, usage } from '../../src/commands/topics.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../support/context.js';
import { createTopics, testKafka, uniqueEnv } from '../support/kafka.js';
import { UsageError } from '../../src/errors.js';

const brokers = inject('kafkaBrokers');

async function runTopics(env: Record<string, string>, args = ['create']): Promise<{ code: number; report: unknown }> {
  const config = loadConfig({ FILESET_KAFKA_BROKERS: brokers, FILESET_LOG_LEVEL: 'silent', ...env });
  const output = new PassThrough();
  let text = '';
  output.on('data', (d: Buffer) => (text += d.toString()));
  const code = await run(config, silentLogger, args, { output });
  return { code, report: JSON.parse(text) };
}

describe.skipIf(!brokers)('fileset-ingest topics create', () => {
  const admin = testKafka(brokers || '127.0.0.1:9').admin();

  beforeAll(async () => {
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it('creates the request and result topics with the configured partitions, then reports them as existing', async () => {
    const env = uniqueEnv();
    const topics = [
      `sandcrawler-${env}.ingest-file-requests-daily`,
      `sandcrawler-${env}.ingest-file-requests-priority`,
      `sandcrawler-${env}.ingest-fileset-results`,
      `sandcrawler-${env}.ingest-file-results`,
    ];
    const first = await runTopics({ FILESET_KAFKA_ENV: env, FILESET_KAFKA_PARTITIONS: '3' });
    expect(first).toEqual({ code: 0, report: { created: topics, existing: [] } });
    const { topics: meta } = await admin.fetchTopicMetadata({ topics });
    expect(meta.map((t) => [t.name, t.partitions.length]).sort()).toEqual(topics.map((t) => [t, 3]).sort());

    const again = await runTopics({ FILESET_KAFKA_ENV: env, FILESET_KAFKA_PARTITIONS: '5' });
    expect(again).toEqual({ code: 0, report: { created: [], existing: topics } });
    // Existing topics are left alone.
    const { topics: after } = await admin.fetchTopicMetadata({ topics });
    expect(after.map((t) => t.partitions.length)).toEqual([3, 3, 3, 3]);
  });

  it('creates only the missing ones, with FILESET_KAFKA_REQUEST_TOPICS as the request topics', async () => {
    const env = uniqueEnv();
    const requests = `${env}.my-requests`;
    const results = `sandcrawler-${env}.ingest-fileset-results`;
    await createTopics(admin, [results], { partitions: 1 });
    const { code, report } = await runTopics({
      FILESET_KAFKA_ENV: env,
      FILESET_KAFKA_REQUEST_TOPICS: requests,
      FILESET_KAFKA_PARTITIONS: '2',
    });
    expect(code).toBe(0);
    expect(report).toEqual({ created: [requests, `sandcrawler-${env}.ingest-file-results`], existing: [results] });
  });

  it('knows only "create"', async () => {
    await expect(runTopics({}, ['delete'])).rejects.toThrow(UsageError);
    await expect(runTopics({}, [])).rejects.toThrow(UsageError);
    expect(usage.split('\n')[0]).toBe('Usage: fileset-ingest topics create [config flags]');
  });
});

// Producing: results made to fit a Kafka message, and `fileset-ingest produce` against the test broker.
import { PassThrough, Readable } from 'node:stream';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { run, usage } from '../../src/commands/produce.js';
import { loadConfig } from '../../src/config.js';
import {
  connectProducer,
  fitResult,
  keyOf,
  MAX_KEY_CHARS,
  MAX_MESSAGE_BYTES,
  resultMessage,
} from '../../src/kafka/produce.js';
import type { FilesetResult } from '../../src/schemas/result.js';
import { silentLogger } from '../support/context.js';
import { createTopics, readTopic, testKafka, uniqueEnv } from '../support/kafka.js';
import { UsageError } from '../../src/errors.js';

const brokers = inject('kafkaBrokers');

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

/** A producer whose connects fail with `failures` in order, then wait for `gate` (when set) and succeed. */
function scriptedProducer(failures: Error[], gate?: Promise<void>) {
  const calls = { connects: 0, disconnects: 0, connected: false };
  const producer = {
    async connect() {
      calls.connects += 1;
      const failure = failures.shift();
      if (failure) throw failure;
      await gate;
      calls.connected = true;
    },
    async disconnect() {
      calls.disconnects += 1;
      calls.connected = false;
    },
  } as unknown as Producer;
  return { producer, calls };
}

describe("connecting a worker's producer", () => {
  const backoff = { baseMs: 1, maxMs: 2 };
  const refused = () => new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092');

  it('waits out a broker outage that began after the start-up check', async () => {
    const { producer, calls } = scriptedProducer([refused(), refused()]);
    const retries: number[] = [];
    const signal = new AbortController().signal;
    await expect(connectProducer(producer, { signal, backoff, onRetry: (_e, n) => retries.push(n) })).resolves.toBe(
      true,
    );
    expect(calls).toEqual({ connects: 3, disconnects: 0, connected: true });
    expect(retries).toEqual([0, 1]);
  });

  it('throws what is not an outage at once', async () => {
    const { producer, calls } = scriptedProducer([new KafkaJSNonRetriableError('SASL authentication failed')]);
    const signal = new AbortController().signal;
    await expect(connectProducer(producer, { signal, backoff, onRetry: () => {} })).rejects.toThrow(/SASL/);
    expect(calls.connects).toBe(1);
  });

  it('gives up at a stop without waiting for the connect, and disconnects it once it ends', async () => {
    let connected!: () => void;
    const { producer, calls } = scriptedProducer([], new Promise((resolve) => (connected = resolve)));
    const stop = new AbortController();
    const connecting = connectProducer(producer, { signal: stop.signal, backoff, onRetry: () => {} });
    stop.abort();
    await expect(connecting).resolves.toBe(false);
    expect(calls.disconnects).toBe(0);
    connected();
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual({ connects: 1, disconnects: 1, connected: false });
  });
});

describe('fitting results into a Kafka message', () => {
  const result: FilesetResult = {
    hit: false,
    status: 'platform-404',
    request: { base_url: 'https://zenodo.org/records/1', ingest_type: 'dataset' },
    error_message: 'not found',
  };

  it('sends a result that fits as it is, keyed by base_url', () => {
    const { message, trimmed } = resultMessage(result);
    expect(trimmed).toBe(false);
    expect(message.key).toBe('https://zenodo.org/records/1');
    expect(JSON.parse(message.value as string)).toEqual(result);
  });

  it('clips long strings of a result that would not fit, keeping status and the rest', () => {
    const big = { ...result, request: { ...result.request, junk: 'y'.repeat(2 * MAX_MESSAGE_BYTES) } };
    const { value, trimmed } = fitResult(big);
    expect(trimmed).toBe(true);
    expect(JSON.parse(value)).toEqual({ ...result, request: { ...result.request, junk: 'y'.repeat(4096) } });
  });

  it('keeps only the sandcrawler request fields when clipping is not enough', () => {
    const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`field${i}`, 'z'.repeat(4000)]));
    const big = { ...result, request: { ...result.request, link_source: 'doi', ...many }, html_biblio: { title: 't' } };
    expect(JSON.parse(fitResult(big).value)).toEqual({
      ...result,
      request: { ...result.request, link_source: 'doi' },
      html_biblio: { title: 't' },
    });
  });

  it("then drops html_biblio and the manifest entries' extra", () => {
    const biblio = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`meta${i}`, 'b'.repeat(4000)]));
    const manifest = [{ path: 'a.csv', size: 1, md5: 'm', extra: { description: 'd' } }];
    const big = { ...result, html_biblio: biblio, manifest };
    expect(JSON.parse(fitResult(big).value)).toEqual({ ...result, manifest: [{ path: 'a.csv', size: 1, md5: 'm' }] });
  });

  it('leaves a skeleton with the status when nothing else helps', () => {
    const manifest = Array.from({ length: 400 }, (_, i) => ({ path: `${i}-${'p'.repeat(4000)}`, size: i }));
    const { value, trimmed } = fitResult({ ...result, manifest });
    expect(trimmed).toBe(true);
    expect(JSON.parse(value)).toEqual({
      hit: false,
      status: 'platform-404',
      request: result.request,
      error_message: 'result too large for the topic: only its status was kept',
    });
  });

  it('keys by base_url, clipped; no key without one', () => {
    expect(keyOf({ base_url: 'u'.repeat(MAX_KEY_CHARS + 10) })).toBe('u'.repeat(MAX_KEY_CHARS));
    expect(keyOf({ base_url: 5 })).toBeNull();
    expect(keyOf([1, 2])).toBeNull();
    expect(keyOf(null)).toBeNull();
  });
});

describe.skipIf(!brokers)('fileset-ingest produce', () => {
  const kafka = testKafka(brokers || '127.0.0.1:9');
  const admin = kafka.admin();
  const config = loadConfig({ FILESET_KAFKA_BROKERS: brokers, FILESET_LOG_LEVEL: 'silent' });

  beforeAll(async () => {
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
  });

  it('sends the good lines keyed by base_url, reports the bad ones by line number, exits 1', async () => {
    const topic = `${uniqueEnv('produce-')}.requests`;
    await createTopics(admin, [topic], { partitions: 2 });
    const good = [
      {
        base_url: 'https://doi.org/10.5281/zenodo.7078760',
        ingest_type: 'dataset',
        link_source: 'doi',
        extra_field: [1],
      },
      { base_url: 'https://zenodo.org/records/68358988', ingest_type: 'dataset' },
    ];
    const lines = [
      JSON.stringify(good[0]),
      'not json',
      '',
      JSON.stringify({ ingest_type: 'dataset' }),
      JSON.stringify({ base_url: 'https://x.org/', force_recrawl: 'yes' }),
      JSON.stringify(good[1]),
    ];
    const out = sink();
    const err = sink();
    const code = await run(config, silentLogger, [], {
      topic,
      input: Readable.from(lines.join('\n')),
      output: out.stream,
      errors: err.stream,
    });
    expect(code).toBe(1);
    expect(JSON.parse(out.text())).toEqual({ produced: 2, rejected: 3 });
    const reports = err.text().trim().split('\n');
    expect(reports.map((r) => r.split(':')[0])).toEqual(['line 2', 'line 4', 'line 5']);
    expect(reports[0]).toMatch(/^line 2: not JSON \(.+\), not sent$/);
    expect(reports[1]).toMatch(/^line 4: request\.base_url: .+, not sent$/);
    expect(reports[2]).toMatch(/^line 5: request\.force_recrawl: .+, not sent$/);

    const sent = await readTopic(kafka, topic, 2);
    expect(sent.map((m) => [m.key, JSON.parse(m.value)]).sort()).toEqual(good.map((g) => [g.base_url, g]).sort());
  });

  it('exits 0 when every line was sent', async () => {
    const topic = `${uniqueEnv('produce-')}.requests`;
    await createTopics(admin, [topic]);
    const out = sink();
    const input = Readable.from(`${JSON.stringify({ base_url: 'https://zenodo.org/records/1' })}\n`);
    expect(await run(config, silentLogger, ['-'], { topic, input, output: out.stream, errors: sink().stream })).toBe(0);
    expect(JSON.parse(out.text())).toEqual({ produced: 1, rejected: 0 });
  });

  it('needs --topic and at most one file', async () => {
    await expect(run(config, silentLogger, [], { input: Readable.from('') })).rejects.toThrow(UsageError);
    await expect(run(config, silentLogger, ['a', 'b'], { topic: 't', input: Readable.from('') })).rejects.toThrow(
      UsageError,
    );
    expect(usage.split('\n')[0]).toBe('Usage: fileset-ingest produce --topic TOPIC [file|-] [config flags]');
  });
});

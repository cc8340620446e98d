// sandcrawler's topic and consumer-group names, from FILESET_KAFKA_ENV.
import type { Config } from '../config.js';

export interface KafkaNames {
  /** Topics the ingest worker consumes (dataset requests share them with file requests). */
  requestTopics: string[];
  /** Fileset results, keyed by base_url. */
  filesetResults: string;
  /** dataset-file results (sandcrawler's file-ingest result shape), keyed by base_url. */
  fileResults: string;
  ingestGroup: string;
  persistGroup: string;
}

export function kafkaNames(config: Config): KafkaNames {
  const env = config.kafka.env;
  return {
    requestTopics: config.kafka.requestTopics.length
      ? config.kafka.requestTopics
      : [`sandcrawler-${env}.ingest-file-requests-daily`, `sandcrawler-${env}.ingest-file-requests-priority`],
    filesetResults: `sandcrawler-${env}.ingest-fileset-results`,
    fileResults: `sandcrawler-${env}.ingest-file-results`,
    ingestGroup: `sandcrawler-${env}-ingest-fileset`,
    persistGroup: `sandcrawler-${env}-persist-ingest-fileset`,
  };
}

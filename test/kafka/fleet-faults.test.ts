// Fleet fault test, small scale (bench/crash.ts runs the same at full scale): 24 requests through
// three ingest workers and the persist worker, on a private broker and a private PostgreSQL, with
// four SIGKILLs spread over the four processes, one broker restart, one database restart and one
// outage of the WARC store (fs://, files rolled over at 1 MB). Then counted from the outside: one row
// per request in every table, every file's file_meta row, every offset committed, every WARC shipped
// and valid under jwarc, every capture naming a shipped file, no `.open` or `.corrupt` file and
// nothing left in tmp/ or work/. Results may come twice (at least once); rows may not.
import { describe, expect, inject, it } from 'vitest';
import { runFaultRun } from '../support/fleet-faults.js';

const brokers = inject('kafkaBrokers');
const REQUESTS = 24;
const KILLS = 4;

describe.skipIf(!brokers)(
  'a fleet under SIGKILLs, a broker restart, a database restart and a WARC store outage',
  () => {
    it('loses no request, duplicates no row, commits every offset and ships only valid WARC files', async () => {
      const counts = await runFaultRun({
        requests: REQUESTS,
        ingestWorkers: 3,
        kills: KILLS,
        brokerRestart: true,
        postgresRestart: true,
        storeOutageMs: 6000,
        spooledEvery: 6,
        timeoutMs: 240_000,
      });
      const story = JSON.stringify({ ...counts, events: counts.events.map((e) => `${e.atS.toFixed(1)}s ${e.what}`) });
      // The faults all happened: one kill for each of the four processes, and both restarts.
      expect(counts.kills, story).toEqual({ ingest: 3, persist: 1 });
      expect(counts.brokerRestarts, story).toBe(1);
      expect(counts.postgresRestarts, story).toBe(1);
      expect(counts.storeOutages, story).toBe(1);
      // A worker started (after a kill) while PostgreSQL or the broker is down fails its start-up
      // check and exits; systemd restarts it, so does the harness. Any other exit of its own is a
      // failure: a running worker rides out both outages (no "Kafka consumer stopped").
      expect(counts.unexpectedExits, story).toEqual([]);
      expect(counts.stopCodes, story).toEqual([0, 0, 0, 0]);

      expect(counts.missing, story).toEqual([]);
      expect(counts.platformRows, story).toBe(REQUESTS);
      expect(counts.platformDistinct, story).toBe(REQUESTS);
      expect(counts.ingestFileResultRows, story).toBe(REQUESTS);
      expect(counts.ingestRequestRows, story).toBe(REQUESTS);
      // A redelivered request whose files were already captured finds them: success-existing.
      expect(
        Object.keys(counts.statuses).filter((s) => s !== 'success' && s !== 'success-existing'),
        story,
      ).toEqual([]);
      expect(counts.fileMetaFound, story).toBe(counts.files);
      expect(counts.resultMessages, story).toBeGreaterThanOrEqual(REQUESTS);
      expect(counts.ingestOffsetsCommitted, story).toBe(true);
      expect(counts.persistOffsetsCommitted, story).toBe(true);

      expect(counts.warcFiles, story).toBeGreaterThan(0);
      expect(counts.warcProblems, story).toEqual([]);
      expect(counts.warcsValid, story).toBe(counts.warcFiles);
      // Every WARC shipped to the store, every capture naming a shipped file, no partial copy left.
      expect(counts.warcsNotShipped, story).toEqual([]);
      expect(counts.captureRowsLocal, story).toBe(0);
      expect(counts.captureRowsWithoutFile, story).toBe(0);
      expect(counts.storeTempFiles, story).toEqual([]);
      expect(counts.openFiles, story).toEqual([]);
      expect(counts.corruptFiles, story).toEqual([]);
      expect(counts.orphanFiles, story).toEqual([]);
    }, 420_000);
  },
);

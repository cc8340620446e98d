import { describe, expect, it } from 'vitest';
import { Readiness } from '../src/health.js';

describe('Readiness', () => {
  it('is not ready while starting (no checks), and ready when every check passes', async () => {
    const readiness = new Readiness();
    expect(await readiness.report()).toEqual({ ready: false, checks: { worker: 'starting' } });
    readiness.add('database', async () => {});
    readiness.add('kafka', async () => {});
    expect(await readiness.report()).toEqual({ ready: true, checks: { database: 'ok', kafka: 'ok' } });
  });

  it('one failing check makes it unready and says why; removing a check forgets it', async () => {
    const readiness = new Readiness();
    readiness.add('database', async () => {});
    const remove = readiness.add('store', async () => {
      throw new Error('bucket does not exist');
    });
    expect(await readiness.report()).toEqual({
      ready: false,
      checks: { database: 'ok', store: 'bucket does not exist' },
    });
    remove();
    expect(await readiness.report()).toEqual({ ready: true, checks: { database: 'ok' } });
  });

  it('a check that does not answer in time fails and is told to stop', async () => {
    const readiness = new Readiness({ timeoutMs: 50 });
    let aborted = false;
    readiness.add('kafka', (signal) => {
      signal.addEventListener('abort', () => (aborted = true));
      return new Promise(() => {});
    });
    expect(await readiness.report()).toEqual({ ready: false, checks: { kafka: 'no answer within 50 ms' } });
    expect(aborted).toBe(true);
  });

  it('a replaced check stays when the remover of the old one runs', async () => {
    const readiness = new Readiness();
    const removeOld = readiness.add('database', async () => {
      throw new Error('old');
    });
    readiness.add('database', async () => {});
    removeOld();
    expect(await readiness.report()).toEqual({ ready: true, checks: { database: 'ok' } });
  });

  it('trusts a pass for `passFor`, but checks a failure again every time', async () => {
    const readiness = new Readiness();
    let runs = 0;
    let up = false;
    readiness.add(
      'store',
      async () => {
        runs++;
        if (!up) throw new Error('no bucket');
      },
      { passFor: 60_000 },
    );
    expect((await readiness.report()).ready).toBe(false);
    expect((await readiness.report()).ready).toBe(false);
    expect(runs).toBe(2);
    up = true;
    expect((await readiness.report()).ready).toBe(true);
    expect((await readiness.report()).ready).toBe(true);
    expect(runs).toBe(3);
  });
});

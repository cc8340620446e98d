// The working directory's disk budget: reservations in order, never above the total.
import { describe, expect, it } from 'vitest';
import { WorkBudget } from '../../src/strategies/work-budget.js';

describe('WorkBudget', () => {
  it('grants reservations in order, never above the total, and lets a waiter in when bytes are released', async () => {
    const budget = new WorkBudget(100);
    const granted: string[] = [];
    const a = await budget.reserve(60);
    const b = budget.reserve(50).then((release) => (granted.push('b'), release));
    const c = budget.reserve(10).then((release) => (granted.push('c'), release)); // fits, but waits its turn
    await Promise.resolve();
    expect(granted).toEqual([]);
    a();
    a(); // releasing twice frees the bytes once
    (await b)();
    (await c)();
    expect(granted).toEqual(['b', 'c']);
    expect(budget.peak).toBe(60);
  });

  it('refuses a reservation larger than the whole budget, and drops a waiter whose request was aborted', async () => {
    const budget = new WorkBudget(100);
    await expect(budget.reserve(101)).rejects.toThrow(RangeError);
    const held = await budget.reserve(90);
    const abort = new AbortController();
    const waiting = budget.reserve(50, abort.signal);
    const next = budget.reserve(10);
    abort.abort(new Error('deadline'));
    await expect(waiting).rejects.toThrow('deadline');
    (await next)();
    held();
    expect(budget.peak).toBe(100);
  });
});

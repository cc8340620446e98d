// The heap growth the CLI sets for itself, unless the operator chose one on node's command line.
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, heapGrowthFlag } from '../src/heap-growth.js';

describe('heap growth', () => {
  it('asks V8 for a growth factor of 3 when node was started without one', () => {
    expect(HEAP_GROWING_PERCENT).toBe(200);
    expect(heapGrowthFlag([])).toBe('--heap-growing-percent=200');
    expect(heapGrowthFlag(['--enable-source-maps', '--max-old-space-size=512'])).toBe('--heap-growing-percent=200');
  });

  it("leaves the operator's own setting, in either spelling V8 accepts, alone", () => {
    expect(heapGrowthFlag(['--heap-growing-percent=0'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap_growing_percent=50'])).toBeUndefined();
    expect(heapGrowthFlag(['--heap-growing-percent', '100'])).toBeUndefined();
  });

  it('is not fooled by flags that only start alike', () => {
    expect(heapGrowthFlag(['--heap-growing-percentage=5'])).toBe('--heap-growing-percent=200');
  });
});

// "Did you mean ...?": the known word closest to a mistyped one, for commands, flags and variables.

/** Edit distance (insertions, deletions, substitutions, each 1). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate nearest to `word` (case-insensitive), if it is near enough to be what was meant:
 * within a third of the word's length in edits, or containing it, or contained in it.
 */
export function closest<T extends string>(word: string, candidates: readonly T[]): T | undefined {
  const typed = word.toLowerCase();
  let best: { candidate: T; score: number } | undefined;
  for (const candidate of candidates) {
    const known = candidate.toLowerCase();
    const score =
      known.includes(typed) || typed.includes(known)
        ? Math.abs(known.length - typed.length) / 2
        : distance(typed, known);
    if (!best || score < best.score) best = { candidate, score };
  }
  return best && best.score <= Math.max(2, Math.ceil(typed.length / 3)) ? best.candidate : undefined;
}

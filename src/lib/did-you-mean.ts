/**
 * "did you mean" for a mistyped name. Optimal-string-alignment distance (an
 * adjacent swap counts as one edit, as in `sesion`/`session` or `discovry`),
 * a suggestion only within about a third of the word, so an unrelated key
 * gets none rather than a misleading one.
 */
export function closestName(typed: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(typed.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of new Set(candidates)) {
    // Lengths further apart than the limit cannot be within it (and a huge key costs nothing).
    if (candidate === typed || Math.abs(candidate.length - typed.length) > limit) continue;
    const distance = editDistance(typed.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean(typed: string, candidates: Iterable<string>): string {
  const name = closestName(typed, candidates);
  return name === undefined ? '' : ` (did you mean "${name}"?)`;
}

export function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = value;
    }
  }
  return rows[a.length]![b.length]!;
}

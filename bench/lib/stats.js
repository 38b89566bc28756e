/**
 * Statistics of repeated measurements: the benchmark machine is small and shared, so every figure
 * is a median of several runs and every comparison a ratio of medians taken in the same run.
 */

/**
 * Percentile by linear interpolation between closest ranks (p in 0..100). NaN for no samples.
 * @param {readonly number[]} samples
 * @param {number} p
 * @returns {number}
 */
export function percentile(samples, p) {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const low = /** @type {number} */ (sorted[lo]);
  return low + (/** @type {number} */ (sorted[hi]) - low) * (rank - lo);
}

/** @param {readonly number[]} samples */
export function median(samples) {
  return percentile(samples, 50);
}

/**
 * measured / baseline; NaN when either is missing or the baseline is zero.
 * @param {number} measured
 * @param {number} baseline
 */
export function ratio(measured, baseline) {
  if (!Number.isFinite(measured) || !Number.isFinite(baseline) || baseline === 0) return Number.NaN;
  return measured / baseline;
}

/**
 * Median, min, max and count of a series.
 * @param {readonly number[]} samples
 * @returns {{ n: number; median: number; min: number; max: number }}
 */
export function summarize(samples) {
  return {
    n: samples.length,
    median: median(samples),
    min: samples.length ? Math.min(...samples) : Number.NaN,
    max: samples.length ? Math.max(...samples) : Number.NaN,
  };
}

/**
 * Latency percentiles from a histogram of whole-microsecond buckets (Map or object bucket -> count),
 * so a load generator can ship millions of samples cheaply. Returns milliseconds.
 * @param {Map<number, number> | Record<string, number>} histogram
 * @param {number} p
 * @returns {number}
 */
export function histogramPercentile(histogram, p) {
  const entries = (histogram instanceof Map ? [...histogram.entries()] : Object.entries(histogram))
    .map(([k, v]) => /** @type {[number, number]} */ ([Number(k), v]))
    .sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((s, [, v]) => s + v, 0);
  if (total === 0) return Number.NaN;
  const wanted = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [us, count] of entries) {
    seen += count;
    if (seen >= wanted) return us / 1000;
  }
  return /** @type {[number, number]} */ (entries[entries.length - 1])[0] / 1000;
}

/**
 * Runs `measure` for each function in turn, `runs` times, interleaved so drift hits all alike.
 * @template {string} K
 * @param {number} runs
 * @param {Record<K, (i: number) => Promise<number> | number>} measures
 * @returns {Promise<Record<K, number[]>>}
 */
export async function interleaved(runs, measures) {
  const names = /** @type {K[]} */ (Object.keys(measures));
  const out = /** @type {Record<K, number[]>} */ (Object.fromEntries(names.map((k) => [k, /** @type {number[]} */ ([])])));
  for (let i = 0; i < runs; i++) {
    for (const name of names) out[name].push(await measures[name](i));
  }
  return out;
}

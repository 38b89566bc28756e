export function percentile(samples: readonly number[], p: number): number;
export function median(samples: readonly number[]): number;
export function ratio(measured: number, baseline: number): number;
export function summarize(samples: readonly number[]): { n: number; median: number; min: number; max: number };
export function histogramPercentile(histogram: Map<number, number> | Record<string, number>, p: number): number;
export function interleaved<K extends string>(runs: number, measures: Record<K, (i: number) => Promise<number> | number>): Promise<Record<K, number[]>>;

import type { BenchResults } from './lib/report.js';
export interface BenchOptions {
  quick: boolean;
  only: number[] | null;
  out: string;
  docs: boolean;
}
export const ITEMS: ReadonlyArray<{ id: number; key: string; title: string }>;
export function parseArgs(argv: readonly string[]): BenchOptions;
export function runBench(opts: BenchOptions, log?: (line: string) => void): Promise<BenchResults>;

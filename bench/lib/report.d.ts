export interface BenchRow {
  item: number;
  name: string;
  unit: string;
  value: number;
  samples: number[];
  baselineName?: string;
  baseline?: number;
  baselineSamples?: number[];
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}
export interface BenchResults {
  machine: { cpuModel: string; cores: number; memoryGiB: number; node: string; platform: string; date: string };
  quick: boolean;
  items: Array<{ id: number; key: string; seconds: number }>;
  rows: BenchRow[];
  notMeasured: Array<{ item: number; name: string; why: string }>;
  durationSeconds: number;
}
export function machine(): BenchResults['machine'];
export function formatNumber(value: number, unit: string): string;
export function textTable(results: BenchResults): string;
export function markdownTable(results: BenchResults): string;
export const FIGURES_START: string;
export const FIGURES_END: string;
export function figuresBlock(results: BenchResults): string;
export function withFigures(doc: string, results: BenchResults): string;

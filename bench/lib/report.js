/** The benchmark's outputs: the table on stdout, bench/results.json, the figures in docs/PERFORMANCE.md. */
import { cpus, totalmem } from 'node:os';

/**
 * One measurement: its median value, the samples it came from, and the baseline measured in the
 * same run with the ratio between them and the target it is held to.
 * @typedef {object} BenchRow
 * @property {number} item
 * @property {string} name
 * @property {string} unit
 * @property {number} value
 * @property {number[]} samples
 * @property {string} [baselineName]
 * @property {number} [baseline]
 * @property {number[]} [baselineSamples]
 * @property {number} [ratio]
 * @property {string} [target]
 * @property {boolean} [pass]
 * @property {string} [note]
 * @property {number} [difference] measured minus expected (the failover item)
 * @property {number[]} [differenceSamples]
 */

/**
 * What an item could not measure here, and why.
 * @typedef {{ item: number; name: string; why: string }} NotMeasured
 */

/**
 * What one item gives back.
 * @typedef {{ rows: BenchRow[]; notMeasured: NotMeasured[] }} ItemOutcome
 */

/**
 * What an item is run with.
 * @typedef {{ quick: boolean; log: (line: string) => void }} ItemOptions
 */

/** @typedef {{ cpuModel: string; cores: number; memoryGiB: number; node: string; platform: string; date: string }} Machine */

/**
 * A whole run.
 * @typedef {object} BenchResults
 * @property {Machine} machine
 * @property {boolean} quick
 * @property {Array<{ id: number; key: string; seconds: number }>} items
 * @property {BenchRow[]} rows
 * @property {NotMeasured[]} notMeasured
 * @property {number} durationSeconds
 */

/** @returns {Machine} */
export function machine() {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
  };
}

/**
 * @param {number | undefined} value
 * @param {string} unit
 */
export function formatNumber(value, unit) {
  if (value === undefined) return '-';
  if (!Number.isFinite(value)) return '-';
  if (unit === 'req/s') return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** @param {BenchRow} row */
function verdict(row) {
  if (row.pass === undefined) return '';
  return row.pass ? 'met' : 'MISSED';
}

/**
 * Rows of cells for a table: item, measurement, value, baseline, ratio, target, verdict.
 * @param {BenchResults} results
 * @returns {string[][]}
 */
export function tableRows(results) {
  return results.rows.map((r) => [
    String(r.item),
    r.name,
    `${formatNumber(r.value, r.unit)} ${r.unit}`,
    r.baselineName ? `${formatNumber(r.baseline, r.unit)} ${r.unit} (${r.baselineName})` : '',
    r.ratio !== undefined && Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '',
    r.target ? `${r.target}${r.note ? `; ${r.note}` : ''}` : (r.note ?? ''),
    verdict(r),
  ]);
}

const HEADER = ['#', 'measurement', 'median', 'baseline (median)', 'ratio', 'target / note', 'verdict'];

/** @param {BenchResults} results */
export function textTable(results) {
  const rows = [HEADER, ...tableRows(results)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  /** @param {string[]} cells */
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out = [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const n of results.notMeasured) out.push(`${n.item}  ${n.name}: not measured: ${n.why}`);
  return `${out.join('\n')}\n`;
}

/** @param {BenchResults} results */
export function markdownTable(results) {
  /** @param {string} s */
  const esc = (s) => s.replaceAll('|', '\\|');
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`];
  for (const r of tableRows(results)) out.push(`| ${r.map(esc).join(' | ')} |`);
  for (const n of results.notMeasured) out.push(`| ${n.item} | ${esc(n.name)} | not measured: ${esc(n.why)} | | | | |`);
  return out.join('\n');
}

export const FIGURES_START = '<!-- bench:figures -->';
export const FIGURES_END = '<!-- /bench:figures -->';

/**
 * The generated block of docs/PERFORMANCE.md: machine, how the run was made, the table.
 * @param {BenchResults} results
 */
export function figuresBlock(results) {
  const m = results.machine;
  return [
    FIGURES_START,
    `Run of ${m.date.slice(0, 16).replace('T', ' ')} UTC (\`npm run bench\`${results.quick ? ' --quick' : ''}, ${Math.round(results.durationSeconds)} s) on: ` +
      `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}.`,
    '',
    markdownTable(results),
    FIGURES_END,
  ].join('\n');
}

/**
 * Replaces the generated block in the document text (or appends it); the rest is kept as written.
 * @param {string} doc
 * @param {BenchResults} results
 */
export function withFigures(doc, results) {
  const block = figuresBlock(results);
  const start = doc.indexOf(FIGURES_START);
  const end = doc.indexOf(FIGURES_END);
  if (start >= 0 && end > start) return doc.slice(0, start) + block + doc.slice(end + FIGURES_END.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

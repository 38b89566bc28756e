/** The benchmark's outputs: the table on stdout, bench/results.json, the figures in docs/PERFORMANCE.md. */
import { cpus, totalmem } from 'node:os';

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

export function formatNumber(value, unit) {
  if (!Number.isFinite(value)) return '-';
  if (unit === 'req/s') return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function verdict(row) {
  if (row.pass === undefined) return '';
  return row.pass ? 'met' : 'MISSED';
}

/** Rows of cells for a table: item, measurement, value, baseline, ratio, target, verdict. */
export function tableRows(results) {
  return results.rows.map((r) => [
    String(r.item),
    r.name,
    `${formatNumber(r.value, r.unit)} ${r.unit}`,
    r.baselineName ? `${formatNumber(r.baseline, r.unit)} ${r.unit} (${r.baselineName})` : '',
    Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '',
    r.target ? `${r.target}${r.note ? `; ${r.note}` : ''}` : (r.note ?? ''),
    verdict(r),
  ]);
}

const HEADER = ['#', 'measurement', 'median', 'baseline (median)', 'ratio', 'target / note', 'verdict'];

export function textTable(results) {
  const rows = [HEADER, ...tableRows(results)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  for (const n of results.notMeasured) out.push(`${n.item}  ${n.name}: not measured: ${n.why}`);
  return `${out.join('\n')}\n`;
}

export function markdownTable(results) {
  const esc = (s) => s.replaceAll('|', '\\|');
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`];
  for (const r of tableRows(results)) out.push(`| ${r.map(esc).join(' | ')} |`);
  for (const n of results.notMeasured) out.push(`| ${n.item} | ${esc(n.name)} | not measured: ${esc(n.why)} | | | | |`);
  return out.join('\n');
}

export const FIGURES_START = '<!-- bench:figures -->';
export const FIGURES_END = '<!-- /bench:figures -->';

/** The generated block of docs/PERFORMANCE.md: machine, how the run was made, the table. */
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

/** Replaces the generated block in the document text (or appends it); the rest is kept as written. */
export function withFigures(doc, results) {
  const block = figuresBlock(results);
  const start = doc.indexOf(FIGURES_START);
  const end = doc.indexOf(FIGURES_END);
  if (start >= 0 && end > start) return doc.slice(0, start) + block + doc.slice(end + FIGURES_END.length);
  return `${doc.trimEnd()}\n\n${block}\n`;
}

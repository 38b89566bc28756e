/**
 * What a V8 CPU profile (`node --cpu-prof`) says, in a few lines: the share of samples spent in
 * each function itself (not in what it calls), largest first.
 *
 *   node bench/lib/cpu-profile.js FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * The parts of a `.cpuprofile` read here.
 * @typedef {object} CpuProfile
 * @property {Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>} nodes
 * @property {number[]} samples
 * @property {number[]} timeDeltas
 */

/**
 * `[{share, name}]`, shares of all samples (0..1), the `top` largest.
 * @param {CpuProfile} profile
 * @returns {Array<{ share: number; name: string }>}
 */
export function selfTimes(profile, top = 15) {
  /** @type {Map<number | undefined, number>} */
  const sampled = new Map();
  for (let i = 0; i < profile.samples.length; i++) sampled.set(profile.samples[i], (sampled.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  /** @type {Map<string, number>} */
  const byName = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const t = sampled.get(node.id) ?? 0;
    total += t;
    const f = node.callFrame;
    const where = f.url ? ` ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}` : '';
    const name = `${f.functionName || '(anonymous)'}${where}`;
    byName.set(name, (byName.get(name) ?? 0) + t);
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, t]) => ({ share: total ? t / total : 0, name }));
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/lib/cpu-profile.js FILE.cpuprofile [N]\n');
    process.exit(2);
  }
  for (const { share, name } of selfTimes(JSON.parse(readFileSync(file, 'utf8')), Number(n ?? 15))) {
    process.stdout.write(`${(share * 100).toFixed(1).padStart(5)} %  ${name}\n`);
  }
}

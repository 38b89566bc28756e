import { ToolkitError } from '../../src/errors.js';
import { datasourceName } from '../../src/shell/names.js';
import { defineCommand } from '../../src/shell/command.js';
import type { Candidate } from '../../src/format/result.js';
import { runTask, waitForTask } from '../../src/shell/tasks.js';
import { parseTarget } from './failover.js';

export default defineCommand({
  name: 'switch',
  usage: 'switch [to HOST] [--dry-run]',
  summary: 'promote a slave to master in a planned switch (the most caught-up one by default)',
  help: '--dry-run prints every candidate and why it is eligible or not, and changes nothing.',
  complete: (args, ctx) => {
    if (args.length === 0) return ['to', '--dry-run'];
    if (args[args.length - 1] === 'to') return ctx.datasources;
    return args.includes('--dry-run') ? [] : ['--dry-run'];
  },
  async run(ctx, args) {
    const dryRun = args.includes('--dry-run');
    const typed = parseTarget(args.filter((a) => a !== '--dry-run'), 'switch [to HOST] [--dry-run]');
    const target = typed === null ? null : await datasourceName(ctx, typed);
    if (dryRun) {
      const service = ctx.requireService();
      const status = await ctx.api.serviceStatus(service);
      // The manager evaluates with its own rules and observations; its step lines are not echoed,
      // the summary below says the same per candidate.
      const started = await ctx.api.control(service, { op: 'switch', dryRun: true, ...(target ? { target } : {}) });
      const task = await waitForTask({ ...ctx, progress: () => undefined }, started);
      const operation = target ? `switch to ${target}` : 'switch';
      const evaluation = candidatesFromTask(task.taskResult);
      if (!evaluation) throw new ToolkitError('refused', `the manager did not return a dry-run evaluation (task ${task.taskId})`);
      const master = status.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name ?? null;
      return { kind: 'dry-run', operation, master, ...evaluation };
    }
    const task = await runTask(ctx, { op: 'switch', ...(target ? { target } : {}) });
    return { kind: 'task', operation: task.operation, task };
  },
});

/** The manager's dry-run result: `{wouldSelect, candidates: [{name, eligible, reason, ...}]}`. */
function candidatesFromTask(result: Record<string, unknown> | null): { selected: string | null; candidates: Candidate[] } | null {
  const list = result?.['candidates'];
  if (!Array.isArray(list)) return null;
  const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const candidates = list.map((raw: Record<string, unknown>): Candidate => ({
    name: String(raw['name']),
    eligible: raw['eligible'] === true,
    reason: typeof raw['reason'] === 'string' ? raw['reason'] : raw['eligible'] === true ? 'eligible' : 'not eligible',
    appliedSeqno: num(raw['appliedSeqno']),
    storedSeqno: num(raw['storedSeqno']),
    latency: num(raw['latency']),
    precedence: num(raw['precedence']) ?? 0,
  }));
  const selected = typeof result?.['wouldSelect'] === 'string' ? (result['wouldSelect'] as string) : null;
  return { selected, candidates };
}

/**
 * A small in-memory ShellApi for the command layer's tests: a 3-node service `alpha` (db1 master),
 * control requests become tasks whose steps appear one at a time, and switches can be told to hang.
 * Tasks are followed through waitForTask as the real client's are (steps handed on as they happen,
 * ToolkitError 'timeout' / 'interrupted' as the client rejects), so the shell runs its production path.
 */
import { ToolkitError } from '../../src/errors.js';
import type { ManagerInfo } from '../../src/manager/api.js';
import type { ControlRequest, ServiceStatus, TaskStatus } from '../../src/manager/model.js';
import type { ShellApi } from '../../src/shell/services.js';
import { classicService, datasource, replicator, router } from '../format/model-builders.js';

export interface FakeApiOptions {
  /** Tasks of these ops never finish. */
  hang?: ControlRequest['op'][];
  /** Tasks of these ops end `failed`. */
  fail?: ControlRequest['op'][];
  unreachable?: boolean;
}

export function demoStatus(): ServiceStatus {
  const r = (master: string | null) => replicator({ masterHost: master, role: master ? 'slave' : 'master' });
  return classicService({
    coordinator: { host: 'db1', state: 'ONLINE' },
    coordinators: ['db1'],
    routers: [router('db1', 101), router('db2', 102), router('db3', 103)],
    datasources: [
      datasource('db1', { role: 'master', replicator: r(null) }),
      datasource('db2', { replicator: r('db1') }),
      datasource('db3', { replicator: r('db1'), precedence: 2 }),
    ],
  });
}

export class FakeApi implements ShellApi {
  readonly address = 'http://fake';
  status: ServiceStatus = demoStatus();
  readonly requests: ControlRequest[] = [];
  /** Datasources whose host does not answer a ping. */
  readonly hostsDown = new Set<string>();
  private readonly tasks = new Map<string, { task: TaskStatus; pending: string[] }>();
  private next = 1;

  constructor(readonly options: FakeApiOptions = {}) {}

  private check(): void {
    if (this.options.unreachable) {
      throw new ToolkitError('unreachable', 'the manager at http://fake is unreachable: connection refused');
    }
  }

  async info(): Promise<ManagerInfo> {
    this.check();
    return {
      dataServiceName: 'alpha',
      dataSourceName: 'db1',
      hostName: 'db1',
      startTime: '2026-01-01T00:00:00Z',
      uptimeSeconds: 1,
      state: 'ONLINE',
      isCoordinator: true,
      isWitness: false,
      managerPID: 1,
      parentPID: 0,
      policyMode: this.status.policy,
      coordinator: 'db1',
      driver: 'simulated',
      version: 'test',
    };
  }
  async serviceNames() {
    this.check();
    return ['alpha'];
  }
  async serviceStatus(service: string) {
    this.check();
    if (service !== 'alpha') throw new ToolkitError('not_found', `no service '${service}'`);
    return structuredClone(this.status);
  }
  async datasourceStatus(_service: string, ds: string) {
    this.check();
    const found = this.status.datasources.find((d) => d.name === ds);
    if (!found) throw new ToolkitError('not_found', `no datasource '${ds}' in service 'alpha'`);
    return structuredClone(found);
  }
  async pingDatasource(_service: string, ds: string) {
    this.check();
    const found = this.status.datasources.find((d) => d.name === ds);
    if (!found) throw new ToolkitError('not_found', `no datasource '${ds}' in service 'alpha'`);
    return { host: ds, address: `127.0.0.1${ds.slice(-1)}`, alive: !this.hostsDown.has(ds) };
  }
  async members() {
    this.check();
    return this.status.datasources.map((d) => ({
      name: d.name,
      host: d.host,
      state: d.manager.state,
      coordinator: d.name === this.status.coordinator.host,
    }));
  }
  async control(service: string, request: ControlRequest): Promise<TaskStatus> {
    this.check();
    this.requests.push(request);
    const taskId = `task-${this.next++}`;
    const operation = describe(request);
    const pending = stepsFor(request);
    const task: TaskStatus = {
      taskId,
      service,
      operation,
      requestedBy: 'tester',
      state: 'in_progress',
      startTime: '2026-01-01T00:00:00.000Z',
      endTime: null,
      steps: [],
      taskResult: null,
    };
    this.tasks.set(taskId, { task, pending });
    if (request.op === 'policy') this.status.policy = request.mode;
    return structuredClone(task);
  }
  /** Like ManagerClient.waitForTask: each step as it appears (here, one per tick), the final task. */
  async waitForTask(taskId: string, options: { onStep: (line: string) => void; timeoutMs: number; signal: AbortSignal }): Promise<TaskStatus> {
    const deadline = Date.now() + options.timeoutMs;
    let shown = 0;
    for (;;) {
      if (options.signal.aborted) throw new ToolkitError('interrupted', 'interrupted');
      const task = await this.task(taskId);
      for (; shown < task.steps.length; shown++) options.onStep(task.steps[shown]!.line);
      if (task.state !== 'in_progress') return task;
      if (Date.now() >= deadline) throw new ToolkitError('timeout', `task ${taskId} did not finish within ${options.timeoutMs} ms; its outcome is unknown`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(10, Math.max(0, deadline - Date.now())));
        function done(): void {
          clearTimeout(timer);
          options.signal.removeEventListener('abort', done);
          resolve();
        }
        options.signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  async task(taskId: string): Promise<TaskStatus> {
    this.check();
    const entry = this.tasks.get(taskId);
    if (!entry) throw new ToolkitError('not_found', `no task ${taskId}`);
    const op = this.requests[Number(taskId.slice(5)) - 1]!.op;
    if (this.options.hang?.includes(op)) {
      if (entry.task.steps.length === 0) entry.task.steps.push({ time: 't', line: entry.pending[0]! });
      return structuredClone(entry.task);
    }
    const line = entry.pending.shift();
    if (line !== undefined) entry.task.steps.push({ time: 't', line });
    if (entry.pending.length === 0) {
      const failed = this.options.fail?.includes(op);
      entry.task.state = failed ? 'failed' : 'complete';
      entry.task.endTime = '2026-01-01T00:00:01.000Z';
      entry.task.taskResult = failed ? { error: `${entry.task.operation} was refused: no eligible slave` } : this.resultFor(op, entry.task);
    }
    return structuredClone(entry.task);
  }
  /** A dry-run switch answers like the manager: every slave with its verdict. */
  private resultFor(op: ControlRequest['op'], task: TaskStatus): Record<string, unknown> {
    if (op !== 'switch' || !task.operation.includes('dry run')) return {};
    const candidates = this.status.datasources
      .filter((d) => d.role !== 'master')
      .map((d) => ({
        name: d.name,
        eligible: d.state === 'ONLINE',
        reason: d.state === 'ONLINE' ? null : d.state,
        appliedSeqno: d.replicator?.appliedSeqno ?? null,
        latency: d.replicator?.appliedLatency ?? null,
        precedence: d.precedence,
      }));
    return { dryRun: true, wouldSelect: candidates.find((c) => c.eligible)?.name ?? null, candidates };
  }

  async history() {
    this.check();
    return [...this.tasks.values()].map((t) => structuredClone(t.task)).reverse();
  }
}

function describe(r: ControlRequest): string {
  switch (r.op) {
    case 'switch':
      return `${r.target ? `switch to ${r.target}` : 'switch'}${r.dryRun ? ' (dry run)' : ''}`;
    case 'failover':
      return r.target ? `failover to ${r.target}` : 'failover';
    case 'datasource':
      return `datasource ${r.host} ${r.action}`;
    case 'policy':
      return `set policy ${r.mode.toLowerCase()}`;
    case 'replicator':
      return `replicator ${r.host} ${r.action}`;
    case 'fault':
      return `service ${r.host} ${r.fault}`;
    default:
      return r.op;
  }
}

function stepsFor(r: ControlRequest): string[] {
  if (r.op === 'switch') {
    return [
      'SET POLICY: AUTOMATIC => MAINTENANCE',
      'SELECTED SLAVE: db2@alpha',
      "PUT THE NEW MASTER 'db2@alpha' ONLINE",
      "SWITCH TO 'db2@alpha' WAS SUCCESSFUL",
    ];
  }
  if (r.op === 'datasource' && r.action === 'shun') return [`DataSource '${r.host}' set to SHUNNED`];
  return [`${describe(r)}: done`];
}

/**
 * A small in-memory Manager for the server's fast tests: service alpha with db1 (master), db2, db3.
 * Control operations run as tasks whose steps come `stepDelayMs` apart; one at a time per service.
 */
import { ToolkitError } from '../../../src/errors.js';
import type { Manager, ManagerInfo } from '../../../src/manager/api.js';
import { describeRequest } from '../../../src/manager/model.js';
import type {
  ControlRequest,
  DataSourceStatus,
  ManagerEvent,
  PolicyMode,
  ServiceStatus,
  TaskStatus,
} from '../../../src/manager/model.js';

export class FakeManager implements Manager {
  policy: PolicyMode = 'AUTOMATIC';
  master = 'db1';
  shunned = new Set<string>();
  readonly tasks = new Map<string, TaskStatus>();
  readonly controlCalls: Array<{ request: ControlRequest; requestedBy: string }> = [];
  private readonly listeners = new Set<(e: ManagerEvent) => void>();
  private nextTask = 1;
  private running: string | null = null;
  closed = false;

  constructor(readonly stepDelayMs = 20) {}

  info(): ManagerInfo {
    return {
      dataServiceName: 'alpha',
      dataSourceName: 'db1',
      hostName: 'db1',
      startTime: '2026-01-01T12:00:00.000Z',
      uptimeSeconds: 42,
      state: 'ONLINE',
      isCoordinator: true,
      isWitness: false,
      managerPID: 4242,
      parentPID: 1,
      policyMode: this.policy,
      coordinator: 'db1',
      driver: 'simulated',
      version: '0.0.0-test',
    };
  }

  serviceNames(): string[] {
    return ['alpha'];
  }

  serviceStatus(service: string): ServiceStatus {
    this.check(service);
    return {
      name: 'alpha',
      type: 'CLUSTERED_MASTER_SLAVE',
      composite: false,
      multimaster: false,
      policy: this.policy,
      coordinator: { host: 'db1', state: 'ONLINE' },
      coordinators: ['db1'],
      datasources: ['db1', 'db2', 'db3'].map((n) => this.ds(n)),
      routers: ['db1', 'db2', 'db3'].map((h, i) => ({
        name: `connector@${h}`,
        host: h,
        pid: 1000 + i,
        state: 'ONLINE',
        connections: { active: 1, created: 5 },
      })),
      sampledAt: '2026-01-01T12:00:00.000Z',
    };
  }

  datasourceStatus(service: string, datasource: string): DataSourceStatus {
    this.check(service);
    if (!['db1', 'db2', 'db3'].includes(datasource)) throw new ToolkitError('not_found', `no datasource ${datasource}`);
    return this.ds(datasource);
  }

  async pingDatasource(service: string, datasource: string) {
    this.datasourceStatus(service, datasource);
    return { host: datasource, address: '127.0.0.11', alive: true, hostAlive: true, dataServer: 'ONLINE' as const };
  }

  control(service: string, request: ControlRequest, requestedBy: string): TaskStatus {
    this.check(service);
    if (this.running) throw new ToolkitError('conflict', `task ${this.running} is still running`, 'wait for it');
    if (request.op === 'datasource' && request.action === 'welcome' && !this.shunned.has(request.host)) {
      throw new ToolkitError('conflict', `datasource ${request.host} is not shunned`);
    }
    this.controlCalls.push({ request, requestedBy });
    const task: TaskStatus = {
      taskId: `t${this.nextTask++}`,
      service,
      operation: describeRequest(request),
      requestedBy,
      state: 'in_progress',
      startTime: new Date().toISOString(),
      endTime: null,
      steps: [],
      taskResult: null,
    };
    this.tasks.set(task.taskId, task);
    if (request.op === 'policy') {
      this.policy = request.mode;
      this.finish(task, { policy: request.mode });
      return clone(task);
    }
    if (request.op === 'datasource' && request.action === 'shun') {
      this.shunned.add(request.host);
      this.finish(task, {});
      return clone(task);
    }
    this.running = task.taskId;
    const target = request.op === 'switch' ? request.target ?? (this.master === 'db1' ? 'db2' : 'db1') : this.master;
    const lines = [`SELECTED SLAVE: ${target}@alpha`, 'PURGE REMAINING ACTIVE SESSIONS', `SWITCH TO ${target} COMPLETE`];
    const next = (i: number) => {
      if (i === lines.length) {
        if (request.op === 'switch') this.master = target;
        this.running = null;
        this.finish(task, { newPrimary: target });
        this.publish({ type: 'state', service, status: this.serviceStatus(service) });
        return;
      }
      const step = { time: new Date().toISOString(), line: lines[i]! };
      task.steps.push(step);
      this.publish({ type: 'task-step', service, taskId: task.taskId, step });
      setTimeout(() => next(i + 1), this.stepDelayMs);
    };
    setTimeout(() => next(0), this.stepDelayMs);
    return clone(task);
  }

  task(taskId: string): TaskStatus {
    const t = this.tasks.get(taskId);
    if (!t) throw new ToolkitError('not_found', `no task ${taskId}`);
    return clone(t);
  }

  history(service: string, limit: number): TaskStatus[] {
    this.check(service);
    return [...this.tasks.values()].reverse().slice(0, limit).map(clone);
  }

  members(service: string) {
    this.check(service);
    return ['db1', 'db2', 'db3'].map((n) => ({ name: n, host: n, state: 'ONLINE' as const, coordinator: n === 'db1' }));
  }

  subscribe(listener: (event: ManagerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private finish(task: TaskStatus, result: Record<string, unknown>) {
    task.state = 'complete';
    task.endTime = new Date().toISOString();
    task.taskResult = result;
    this.publish({ type: 'task-end', service: task.service, task: clone(task) });
  }

  /** Hands an event to every subscriber, as the manager would. */
  publish(event: ManagerEvent) {
    for (const l of this.listeners) l(event);
  }

  private check(service: string) {
    if (service !== 'alpha') throw new ToolkitError('not_found', `no service ${service}`);
  }

  private ds(name: string): DataSourceStatus {
    const master = name === this.master;
    const shunned = this.shunned.has(name);
    return {
      name,
      service: 'alpha',
      host: name,
      role: master ? 'master' : 'slave',
      state: shunned ? 'SHUNNED' : 'ONLINE',
      alertStatus: shunned ? 'SHUNNED' : 'OK',
      alertMessage: null,
      alertTime: '2026-01-01T12:00:00.000Z',
      lastShunReason: shunned ? 'MANUALLY-SHUNNED' : null,
      lastError: null,
      precedence: 99,
      standby: false,
      archive: false,
      witness: false,
      manager: { state: 'ONLINE' },
      replicator: {
        state: 'ONLINE',
        role: master ? 'master' : 'slave',
        masterHost: master ? null : this.master,
        appliedSeqno: 10,
        storedSeqno: 10,
        appliedLatency: 0.1,
        relativeLatency: 1,
      },
      dataServer: { state: 'ONLINE' },
      connections: { active: 0, created: 0 },
      seqno: 10,
      appliedLatency: 0.1,
      relativeLatency: 1,
    };
  }
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

/**
 * The manager's configuration as properties: `key=value` lines, `#` or `!` comments, blank lines
 * ignored. One schema serves the properties file (`--config FILE`) and `--property=KEY=VALUE`
 * overrides; every key is validated and typed, and unknown keys or bad values are refused with the
 * file, line and key named (ToolkitError 'usage').
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ToolkitError } from '../errors.js';
import type { PolicyMode, Role } from './model.js';
import type { DataSourceConfig } from './drivers/driver.js';

export interface ManagerProperties {
  serviceName: string;
  datasources: DataSourceConfig[];
  /** Hosts (datasource names) that run a connector. */
  connectors: string[];
  driver: 'simulated' | 'mysql';
  mysql: {
    user: string;
    password: string | null;
    passwordFile: string | null;
    /** The account slaves use to read their master's binlog; null: none configured. */
    replication: { user: string | null; password: string | null; passwordFile: string | null };
  };
  /** null: state is kept in memory only. */
  stateDir: string | null;
  auditLog: string | null;
  policy: {
    mode: PolicyMode;
    samplePeriodSeconds: number;
    dbPingFailThreshold: number;
    dbPingTimeoutSeconds: number;
    hostPingFailThreshold: number;
    hostPingMethod: 'echo' | 'ping';
    hostPingTimeoutSeconds: number;
    fenceMasterReplicator: boolean;
    fenceMasterReplicatorThreshold: number;
    fenceSlaveReplicator: boolean;
    fenceSlaveReplicatorThreshold: number;
    slaveMaxLatencySeconds: number;
    /**
     * A failover that would lose more transactions than this (seen on the failed master, not
     * received by the best candidate) is refused; -1: no limit.
     */
    failoverMaxLostTransactions: number;
  };
  /** Seconds a failover waits for the candidate to apply its log; 0 waits forever. */
  failoverApplyWaitTimeoutSeconds: number;
  /** Seconds any other driver call of an operation may take. */
  operationStepTimeoutSeconds: number;
  /** What the REST API may hold at once (src/manager/server/limits.ts). */
  api: {
    maxConnections: number;
    idleTimeoutSeconds: number;
    headersTimeoutSeconds: number;
    requestTimeoutSeconds: number;
    /** APIv1 reads answered without credentials to loopback clients (legacy monitoring). */
    v1UnauthenticatedLoopbackReads: boolean;
  };
  simulation: { stepDelayMs: number; writesPerSecond: number; seed: number };
  /** Where the state lives and who decides: this manager alone, or a member of a group on etcd (docs/group.md). */
  coordination: {
    kind: 'local' | 'etcd';
    /** This member's name in the group; null: the host name. */
    memberName: string | null;
    /** The datasource this manager sits beside: the server it fences when it loses the group. */
    datasource: string | null;
    /** Seconds the coordinator's lease lasts without renewal. */
    ttlSeconds: number;
    /** The URL other members reach this member's API at; null: its listen address. */
    advertiseUrl: string | null;
    etcd: {
      endpoints: string[];
      caFile: string | null;
      certFile: string | null;
      keyFile: string | null;
      user: string | null;
      password: string | null;
      passwordFile: string | null;
      /** Key prefix: the service's keys live under PREFIX/SERVICE/. */
      prefix: string;
    };
  };
}

const DEMO_HOSTS: Record<string, string> = { db1: '127.0.0.11', db2: '127.0.0.12', db3: '127.0.0.13' };

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const count = z.coerce.number().int().min(0);
const seconds = z.coerce.number().min(0);
const positiveSeconds = z.coerce.number().positive();
const name = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only');
const nameList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  .pipe(z.array(name));

interface KeySpec {
  schema: z.ZodType;
  /** Shown in the error: what a good value looks like. */
  expect: string;
}

const SERVICE_KEYS: Record<string, KeySpec> = {
  'service.name': { schema: name, expect: 'a name such as alpha' },
  'service.datasources': { schema: nameList, expect: 'a comma list of names, e.g. db1,db2,db3' },
  'service.connectors': { schema: nameList, expect: 'a comma list of hosts, e.g. db1,db2' },
  'manager.driver': { schema: z.enum(['simulated', 'mysql']), expect: 'simulated or mysql' },
  'mysql.user': { schema: z.string().min(1), expect: 'a user name' },
  'mysql.password': { schema: z.string(), expect: 'a password' },
  'mysql.passwordFile': { schema: z.string().min(1), expect: 'a file path' },
  'mysql.replication.user': { schema: z.string().min(1), expect: 'a user name' },
  'mysql.replication.password': { schema: z.string(), expect: 'a password' },
  'mysql.replication.passwordFile': { schema: z.string().min(1), expect: 'a file path' },
  'manager.state.dir': { schema: z.string().min(1), expect: 'a directory path' },
  'manager.audit.log': { schema: z.string().min(1), expect: 'a file path' },
  'policy.mode': {
    schema: z.string().transform((v) => v.toUpperCase()).pipe(z.enum(['AUTOMATIC', 'MANUAL', 'MAINTENANCE'])),
    expect: 'automatic, manual or maintenance',
  },
  'policy.liveness.samplePeriod': { schema: positiveSeconds, expect: 'seconds > 0' },
  'policy.liveness.dbping.fail.threshold': { schema: count, expect: 'an integer >= 0' },
  'policy.liveness.dbping.timeout': { schema: positiveSeconds, expect: 'seconds > 0' },
  'policy.liveness.hostPing.fail.threshold': { schema: count, expect: 'an integer >= 0' },
  'policy.liveness.hostPing.method': { schema: z.enum(['echo', 'ping']), expect: 'echo or ping' },
  'policy.liveness.hostPing.timeout': { schema: positiveSeconds, expect: 'seconds > 0' },
  'policy.fence.masterReplicator': { schema: bool, expect: 'true or false' },
  'policy.fence.masterReplicator.threshold': { schema: count, expect: 'an integer >= 0' },
  'policy.fence.slaveReplicator': { schema: bool, expect: 'true or false' },
  'policy.fence.slaveReplicator.threshold': { schema: count, expect: 'an integer >= 0' },
  'policy.slave.maxLatency': { schema: seconds, expect: 'seconds >= 0' },
  'policy.failover.maxLostTransactions': { schema: z.coerce.number().int().min(-1), expect: 'an integer >= 0, or -1 for no limit' },
  'manager.failover.thl.apply.wait.timeout': { schema: seconds, expect: 'seconds >= 0 (0 waits forever)' },
  'manager.operation.step.timeout': { schema: positiveSeconds, expect: 'seconds > 0' },
  'manager.api.v1.allowUnauthenticatedLoopbackReads': { schema: bool, expect: 'true or false (APIv1 reads without credentials from loopback, for legacy monitoring)' },
  'manager.api.maxConnections': { schema: z.coerce.number().int().min(1), expect: 'an integer >= 1 (never more than half of ulimit -n is used)' },
  'manager.api.idleTimeout': { schema: positiveSeconds, expect: 'seconds > 0' },
  'manager.api.headersTimeout': { schema: positiveSeconds, expect: 'seconds > 0' },
  'manager.api.requestTimeout': { schema: positiveSeconds, expect: 'seconds > 0' },
  'manager.api.advertise': { schema: z.url({ protocol: /^https?$/ }), expect: 'the URL other members reach this API at, e.g. http://10.0.0.5:8090' },
  'manager.coordination': { schema: z.enum(['local', 'etcd']), expect: 'local or etcd' },
  'manager.coordination.ttl': { schema: z.coerce.number().int().min(3).max(300), expect: 'whole seconds, 3 or more' },
  'manager.name': { schema: name, expect: 'a member name such as db1' },
  'manager.datasource': { schema: name, expect: 'the name of a datasource of the service' },
  'manager.etcd.endpoints': {
    schema: z
      .string()
      .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
      .pipe(z.array(z.url({ protocol: /^https?$/ })).min(1)),
    expect: 'a comma list of etcd client URLs, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379',
  },
  'manager.etcd.cacert': { schema: z.string().min(1), expect: 'a PEM file path' },
  'manager.etcd.cert': { schema: z.string().min(1), expect: 'a PEM file path' },
  'manager.etcd.key': { schema: z.string().min(1), expect: 'a PEM file path' },
  'manager.etcd.user': { schema: z.string().min(1), expect: 'an etcd user name' },
  'manager.etcd.password': { schema: z.string(), expect: 'a password' },
  'manager.etcd.passwordFile': { schema: z.string().min(1), expect: 'a file path' },
  'manager.etcd.prefix': { schema: z.string().regex(/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_-]$/), expect: 'a key prefix such as /tungsten' },
  'simulation.stepDelayMs': { schema: count, expect: 'milliseconds >= 0' },
  'simulation.writesPerSecond': { schema: seconds, expect: 'a number >= 0' },
  'simulation.seed': { schema: count, expect: 'an integer >= 0' },
};

const DATASOURCE_KEYS: Record<string, KeySpec> = {
  host: { schema: z.string().min(1), expect: 'a host name or address' },
  port: { schema: z.coerce.number().int().min(1).max(65535), expect: 'a port 1-65535' },
  role: { schema: z.enum(['master', 'slave', 'standby', 'archive']), expect: 'master, slave, standby or archive' },
  precedence: { schema: z.coerce.number().int().min(-1), expect: 'an integer >= -1' },
};

/** One `key=value` as written, with where it came from (for error messages). */
export interface PropertyEntry {
  key: string;
  value: string;
  /** `FILE:LINE` or `--property`. */
  origin: string;
}

/** Keys whose values are never shown in a message. */
const SECRET_KEY = /pass|secret|pwd/i;

function usage(origin: string, message: string, hint?: string): ToolkitError {
  return new ToolkitError('usage', `${origin}: ${message}`, hint);
}

function splitAssignment(text: string): { key: string; value: string } | null {
  const at = text.search(/[=:]/);
  if (at <= 0) return null;
  return { key: text.slice(0, at).trim(), value: text.slice(at + 1).trim() };
}

/** Parses properties text; `source` names the file in errors. */
export function parsePropertiesText(text: string, source: string): PropertyEntry[] {
  const entries: PropertyEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) return;
    const origin = `${source}:${index + 1}`;
    const kv = splitAssignment(line);
    // The line is not shown: it may be a password line missing its '='.
    if (!kv) throw usage(origin, 'expected KEY=VALUE (the line is not shown: it may hold a secret)');
    entries.push({ ...kv, origin });
  });
  return entries;
}

export function readPropertiesFile(file: string): PropertyEntry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ToolkitError('usage', `cannot read properties file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'Pass an existing file to --config.');
  }
  return parsePropertiesText(text, file);
}

/** `--property=KEY=VALUE` arguments (the part after `--property=`). */
export function parsePropertyOverrides(overrides: readonly string[]): PropertyEntry[] {
  return overrides.map((text) => {
    const at = text.indexOf('=');
    if (at <= 0) throw usage('--property', 'expected KEY=VALUE (the value is not shown: it may hold a secret)', 'Write it as --property=policy.mode=manual.');
    const key = text.slice(0, at).trim();
    // Errors name where a value came from by its key alone: a value, even under a misspelt key, may be a secret.
    const origin = `--property=${key}`;
    return { key, value: text.slice(at + 1).trim(), origin };
  });
}

function specFor(key: string): { spec: KeySpec; datasource?: string; field?: string } | null {
  const fixed = SERVICE_KEYS[key];
  if (fixed) return { spec: fixed };
  const m = /^datasource\.([^.]+)\.(host|port|role|precedence)$/.exec(key);
  if (m) return { spec: DATASOURCE_KEYS[m[2]!]!, datasource: m[1]!, field: m[2]! };
  return null;
}

export const PROPERTY_KEYS: readonly string[] = [
  ...Object.keys(SERVICE_KEYS),
  ...Object.keys(DATASOURCE_KEYS).map((k) => `datasource.<name>.${k}`),
];

/**
 * Validates entries (later ones override earlier ones) and builds the typed configuration.
 * Throws ToolkitError 'usage' naming the origin and key of the first bad entry.
 */
export function buildProperties(entries: readonly PropertyEntry[]): ManagerProperties {
  const values = new Map<string, { value: unknown; origin: string }>();
  for (const entry of entries) {
    const found = specFor(entry.key);
    if (!found) {
      throw usage(entry.origin, `unknown property '${entry.key}' (its value is not shown)`, `Known keys: ${PROPERTY_KEYS.join(', ')}.`);
    }
    const parsed = found.spec.schema.safeParse(entry.value);
    if (!parsed.success) {
      const shown = SECRET_KEY.test(entry.key) ? '(not shown)' : `'${entry.value}'`;
      throw usage(entry.origin, `bad value ${shown} for '${entry.key}': expected ${found.spec.expect}`);
    }
    values.set(entry.key, { value: parsed.data, origin: entry.origin });
  }
  const get = <T>(key: string, fallback: T): T => (values.has(key) ? (values.get(key)!.value as T) : fallback);
  const originOf = (key: string) => values.get(key)?.origin ?? 'configuration';

  const names = get<string[]>('service.datasources', []);
  if (names.length === 0) {
    throw new ToolkitError('usage', `${originOf('service.datasources')}: 'service.datasources' lists no datasource`, 'Set service.datasources=db1,db2,db3 and datasource.<name>.host for each.');
  }
  for (const [key, { origin }] of values) {
    const m = /^datasource\.([^.]+)\./.exec(key);
    if (m && !names.includes(m[1]!)) throw usage(origin, `'${key}' names datasource '${m[1]}' which is not in service.datasources`);
  }
  const datasources: DataSourceConfig[] = names.map((ds) => {
    const host = get<string | undefined>(`datasource.${ds}.host`, undefined);
    if (!host) throw new ToolkitError('usage', `configuration: 'datasource.${ds}.host' is missing`, `Add datasource.${ds}.host=ADDRESS.`);
    const role = get<Role>(`datasource.${ds}.role`, 'slave');
    return {
      name: ds,
      host,
      port: get(`datasource.${ds}.port`, 3306),
      role,
      precedence: get(`datasource.${ds}.precedence`, role === 'archive' ? -1 : 99),
    };
  });
  const masters = datasources.filter((d) => d.role === 'master');
  if (masters.length !== 1) {
    throw new ToolkitError('usage', `configuration: exactly one datasource must have role master, found ${masters.length}`, 'Set datasource.<name>.role=master on one datasource.');
  }
  const connectors = get<string[]>('service.connectors', []);
  for (const c of connectors) {
    if (!names.includes(c)) throw usage(originOf('service.connectors'), `connector host '${c}' is not a datasource of the service`);
  }

  const coordinationKind = get<'local' | 'etcd'>('manager.coordination', 'local');
  const endpoints = get<string[]>('manager.etcd.endpoints', []);
  if (coordinationKind === 'etcd' && endpoints.length === 0) {
    throw new ToolkitError('usage', `${originOf('manager.coordination')}: manager.coordination=etcd needs manager.etcd.endpoints`, 'Set manager.etcd.endpoints=http://HOST:2379[,...] (the etcd client URLs).');
  }
  const ownDatasource = get<string | null>('manager.datasource', null);
  if (ownDatasource !== null && !names.includes(ownDatasource)) {
    throw usage(originOf('manager.datasource'), `'manager.datasource' names '${ownDatasource}', which is not in service.datasources`, `Datasources: ${names.join(', ')}.`);
  }
  const certFile = get<string | null>('manager.etcd.cert', null);
  const keyFile = get<string | null>('manager.etcd.key', null);
  if ((certFile === null) !== (keyFile === null)) {
    throw usage(originOf(certFile ? 'manager.etcd.cert' : 'manager.etcd.key'), 'a client certificate needs both manager.etcd.cert and manager.etcd.key');
  }
  if (values.has('manager.etcd.password') && values.has('manager.etcd.passwordFile')) {
    throw usage(originOf('manager.etcd.password'), 'give manager.etcd.password or manager.etcd.passwordFile, not both');
  }
  if ((values.has('manager.etcd.password') || values.has('manager.etcd.passwordFile')) && !values.has('manager.etcd.user')) {
    throw usage(originOf(values.has('manager.etcd.password') ? 'manager.etcd.password' : 'manager.etcd.passwordFile'), 'an etcd password needs manager.etcd.user');
  }

  if (coordinationKind === 'etcd') {
    // A manager cut off from etcd fences its master two thirds of a TTL after its last renewal; the
    // other side must not be able to promote another before that.
    const ttl = get('manager.coordination.ttl', 10);
    const period = get('policy.liveness.samplePeriod', 10);
    const fastest = (Math.min(get('policy.liveness.dbping.fail.threshold', 1), get('policy.liveness.hostPing.fail.threshold', 2)) + 1) * period;
    if ((2 * ttl) / 3 >= fastest) {
      throw usage(
        originOf('manager.coordination.ttl'),
        `manager.coordination.ttl=${ttl} is too long for failovers ${fastest} s after a fault: a manager cut off from etcd fences its master up to ${Math.round((2 * ttl) / 3)} s after it was cut off, and the other side could promote another before that`,
        `Keep two thirds of the TTL below (threshold + 1) x policy.liveness.samplePeriod: a TTL under ${Math.ceil((3 * fastest) / 2)} s.`,
      );
    }
  }

  return {
    serviceName: get('service.name', 'alpha'),
    datasources,
    connectors,
    driver: get('manager.driver', 'simulated'),
    mysql: {
      user: get('mysql.user', 'tungsten'),
      password: get<string | null>('mysql.password', null),
      passwordFile: get<string | null>('mysql.passwordFile', null),
      replication: {
        user: get<string | null>('mysql.replication.user', null),
        password: get<string | null>('mysql.replication.password', null),
        passwordFile: get<string | null>('mysql.replication.passwordFile', null),
      },
    },
    stateDir: get<string | null>('manager.state.dir', null),
    auditLog: get<string | null>('manager.audit.log', null),
    policy: {
      mode: get<PolicyMode>('policy.mode', 'AUTOMATIC'),
      samplePeriodSeconds: get('policy.liveness.samplePeriod', 10),
      dbPingFailThreshold: get('policy.liveness.dbping.fail.threshold', 1),
      dbPingTimeoutSeconds: get('policy.liveness.dbping.timeout', 5),
      hostPingFailThreshold: get('policy.liveness.hostPing.fail.threshold', 2),
      hostPingMethod: get('policy.liveness.hostPing.method', 'echo'),
      hostPingTimeoutSeconds: get('policy.liveness.hostPing.timeout', 2),
      fenceMasterReplicator: get('policy.fence.masterReplicator', false),
      fenceMasterReplicatorThreshold: get('policy.fence.masterReplicator.threshold', 6),
      fenceSlaveReplicator: get('policy.fence.slaveReplicator', false),
      fenceSlaveReplicatorThreshold: get('policy.fence.slaveReplicator.threshold', 6),
      slaveMaxLatencySeconds: get('policy.slave.maxLatency', 900),
      failoverMaxLostTransactions: get('policy.failover.maxLostTransactions', -1),
    },
    failoverApplyWaitTimeoutSeconds: get('manager.failover.thl.apply.wait.timeout', 0),
    operationStepTimeoutSeconds: get('manager.operation.step.timeout', 60),
    api: {
      maxConnections: get('manager.api.maxConnections', 256),
      idleTimeoutSeconds: get('manager.api.idleTimeout', 5),
      headersTimeoutSeconds: get('manager.api.headersTimeout', 10),
      requestTimeoutSeconds: get('manager.api.requestTimeout', 30),
      v1UnauthenticatedLoopbackReads: get('manager.api.v1.allowUnauthenticatedLoopbackReads', false),
    },
    simulation: {
      stepDelayMs: get('simulation.stepDelayMs', 0),
      writesPerSecond: get('simulation.writesPerSecond', 2),
      seed: get('simulation.seed', 1),
    },
    coordination: {
      kind: coordinationKind,
      memberName: get<string | null>('manager.name', null),
      datasource: ownDatasource,
      ttlSeconds: get('manager.coordination.ttl', 10),
      advertiseUrl: get<string | null>('manager.api.advertise', null),
      etcd: {
        endpoints,
        caFile: get<string | null>('manager.etcd.cacert', null),
        certFile,
        keyFile,
        user: get<string | null>('manager.etcd.user', null),
        password: get<string | null>('manager.etcd.password', null),
        passwordFile: get<string | null>('manager.etcd.passwordFile', null),
        prefix: get('manager.etcd.prefix', '/tungsten'),
      },
    },
  };
}

/** The demo service: alpha with db1 (master), db2, db3 (slaves) on 127.0.0.11-13, a connector on each. */
export function demoPropertyEntries(): PropertyEntry[] {
  const lines = [
    'service.name=alpha',
    'service.datasources=db1,db2,db3',
    'service.connectors=db1,db2,db3',
    'manager.driver=simulated',
    'simulation.stepDelayMs=200',
    ...Object.entries(DEMO_HOSTS).flatMap(([ds, host]) => [
      `datasource.${ds}.host=${host}`,
      `datasource.${ds}.role=${ds === 'db1' ? 'master' : 'slave'}`,
    ]),
  ];
  return parsePropertiesText(lines.join('\n'), 'demo');
}

/**
 * The configuration a manager runs with: the demo set or a properties file, then overrides.
 * `overrides` are `KEY=VALUE` strings as given to `--property=`.
 */
export function loadProperties(opts: { file?: string; demo?: boolean; overrides?: readonly string[] }): ManagerProperties {
  const base = opts.file ? readPropertiesFile(opts.file) : opts.demo ? demoPropertyEntries() : [];
  return buildProperties([...base, ...parsePropertyOverrides(opts.overrides ?? [])]);
}

export function demoProperties(overrides: readonly string[] = []): ManagerProperties {
  return loadProperties({ demo: true, overrides });
}

/** The configuration safe to print or send: the password replaced. */
export function redactedProperties(props: ManagerProperties): ManagerProperties {
  const hidden = (p: string | null) => (p === null ? null : '**obfuscated**');
  return {
    ...props,
    mysql: { ...props.mysql, password: hidden(props.mysql.password), replication: { ...props.mysql.replication, password: hidden(props.mysql.replication.password) } },
    coordination: { ...props.coordination, etcd: { ...props.coordination.etcd, password: hidden(props.coordination.etcd.password) } },
  };
}

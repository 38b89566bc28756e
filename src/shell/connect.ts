/**
 * Opening the shell's connection: the REST API of a running manager, or (--demo) a simulated
 * cluster started in-process. Then the first call, which decides exit 3 when nothing answers.
 */
import { ToolkitError, isToolkitError } from '../errors.js';
import type { ManagerInfo } from '../manager/api.js';
import { resolveCredentials } from './credentials.js';
import { managerUrls, type CctrlOptions } from './options.js';
import type { ShellApi } from './services.js';

const REQUEST_TIMEOUT_MS = 10_000;

/** `askPassword`: how to ask for a password at a terminal (absent: not at one, and none is asked). */
export async function openApi(options: CctrlOptions, env: NodeJS.ProcessEnv, askPassword?: (question: string) => Promise<string>): Promise<ShellApi> {
  if (options.demo) {
    const { startDemo } = await import('./demo.js');
    return startDemo(options.properties, Math.min(REQUEST_TIMEOUT_MS, options.timeoutSeconds * 1000));
  }
  const resolved = resolveCredentials(options, env);
  const urls = managerUrls(options);
  const credentials =
    resolved === null
      ? null
      : { user: resolved.user, password: resolved.password ?? (askPassword ? await askPassword(`Password for ${resolved.user} at ${urls.join(', ')}: `) : '') };
  const [{ FailoverClient }, { restShellApi }] = await Promise.all([import('../api/failover.js'), import('./rest-api.js')]);
  const managers = new FailoverClient(managerUrls(options, env), {
    ...(credentials ?? {}),
    timeoutMs: Math.min(REQUEST_TIMEOUT_MS, options.timeoutSeconds * 1000),
    ...(options.cacert ? { caFile: options.cacert } : {}),
    insecure: options.insecure,
  });
  return restShellApi(managers);
}

/** Something listens there but does not answer: it is stalled, or not a tungsten-manager. */
const SILENT_HINT = 'something listens there but does not answer: check that --manager names a tungsten-manager and that it is not stalled (or give a longer --timeout)';

const START_HINT = 'start tungsten-manager, give its address with --manager URL, or try the simulated cluster with cctrl --demo';

/**
 * The manager's info, or a ToolkitError that names --manager and --demo when nothing answers
 * (with several managers: each one tried, with its reason).
 */
export async function greet(api: ShellApi): Promise<ManagerInfo> {
  try {
    return await api.info();
  } catch (e) {
    const { NoManagerAnswers } = await import('../api/failover.js');
    if (e instanceof NoManagerAnswers) {
      const certificate = e.attempts.some((a) => /certificate/i.test(a.reason));
      if (!certificate && e.attempts.every((a) => /^timed out/.test(a.reason))) {
        throw new ToolkitError('unreachable', `no manager answered: ${e.attempts.map((a) => `${a.url} accepted the connection but sent nothing back (${a.reason})`).join('; ')}`, SILENT_HINT);
      }
      throw new ToolkitError(
        'unreachable',
        `cannot reach any of the managers: ${e.attempts.map((a) => `${a.url}: ${a.reason}`).join('; ')}`,
        certificate ? `${START_HINT}; for a certificate, give its CA with --cacert FILE or skip verification with --insecure` : START_HINT,
      );
    }
    if (isToolkitError(e) && e.kind === 'unreachable' && /certificate/i.test(e.message)) {
      throw new ToolkitError('unreachable', e.message, 'give the CA that signed it with --cacert FILE, or skip verification with --insecure');
    }
    if (isToolkitError(e) && e.kind === 'timeout') {
      throw new ToolkitError('unreachable', `the manager at ${api.address} accepted the connection but did not answer: ${e.message.replace(/^.*did not answer /, 'nothing ')}`, SILENT_HINT);
    }
    if (isToolkitError(e) && e.kind === 'unreachable') {
      throw new ToolkitError(
        'unreachable',
        `cannot reach the manager at ${api.address}: ${e.message.replace(/^.*unreachable: /, '')}`,
        START_HINT,
      );
    }
    throw e;
  }
}

/** A --service the manager does not have is refused at start, not by every command after. */
export async function checkService(api: ShellApi, service: string): Promise<void> {
  const services = await api.serviceNames();
  if (!services.includes(service)) {
    throw new ToolkitError('not_found', `no service '${service}' at the manager at ${api.address}`, `known services: ${services.join(', ')}`);
  }
}

/**
 * Datasource names as an operator types them: the service's own spelling whatever the case (`DB2`
 * is db2), and one wording when there is no such datasource, with the closest name suggested.
 */
import { ToolkitError } from '../errors.js';
import type { CommandContext } from './command.js';
import { closestName } from './registry.js';

export function unknownDatasource(name: string, service: string, known: readonly string[]): ToolkitError {
  const suggestion = closestName(name, known);
  return new ToolkitError(
    'not_found',
    `no datasource '${name}' in service '${service}'`,
    suggestion ? `did you mean ${suggestion}? (known datasources: ${known.join(', ')})` : `known datasources: ${known.join(', ')}`,
  );
}

/** The datasource's name as the service spells it, from a name typed in any case. */
export function matchDatasource(name: string, service: string, known: readonly string[]): string {
  if (known.includes(name)) return name;
  const same = known.filter((k) => k.toLowerCase() === name.toLowerCase());
  if (same.length === 1) return same[0]!;
  throw unknownDatasource(name, service, known);
}

/** Looks the name up among the service's datasources (one status read). */
export async function datasourceName(ctx: CommandContext, name: string): Promise<string> {
  const service = ctx.requireService();
  const status = await ctx.api.serviceStatus(service);
  return matchDatasource(name, status.name, status.datasources.map((d) => d.name));
}

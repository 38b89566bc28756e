/**
 * How tpm reads `echo ls | cctrl` (its CCTRL#parse, configure/cctrl.rb in tpm's Ruby), restated
 * here so the fast tier checks our text the way the field does without Ruby: the command's output
 * is stripped first (tpm's cmd_result), the DATASOURCES section is taken up to the last
 * separator that ends a line, split at blank lines, and each box read for its header and
 * component rows. test/cli/cctrl-tpm-ruby.field.test.ts (npm run test:field) runs the real Ruby on the same output.
 */
export interface TpmDatasource {
  role: string;
  status: string;
  state?: string;
  seqno?: string;
  latency?: string;
  replicator?: { role: string; status: string; master?: string };
  manager?: string;
  dataserver?: string;
}

export interface TpmView {
  coordinator: { host: string; mode: string; state: string } | null;
  routers: Record<string, { status: string }>;
  datasources: Record<string, TpmDatasource>;
}

/** Reads the output as tpm does; throws as tpm does when a section is missing. */
export function readAsTpm(output: string): TpmView {
  const text = output.trim();
  const c = /COORDINATOR\[(\S+):(\w+):(\w+)\]/s.exec(text);
  const view: TpmView = { coordinator: c ? { host: c[1]!, mode: c[2]!, state: c[3]! } : null, routers: {}, datasources: {} };

  const routers = /ROUTERS:\s*\n\+-+\+\n(.+?)\+-+\+\n/s.exec(text);
  if (!routers) throw new Error('Could not find ROUTERS section');
  for (const r of routers[1]!.matchAll(/connector@(\S*)\[[0-9]*\]\((\S*),\s*created=([0-9]*),\s*active=([0-9]*)\)/gs)) {
    view.routers[r[1]!] = { status: r[2]! };
  }

  const section = /DATASOURCES:\n(\+-+.+-+\+\n)/s.exec(text);
  if (!section) throw new Error('Could not find DATASOURCES section');
  for (const chunk of section[1]!.split('\n\n')) {
    for (const box of chunk.matchAll(/\+-+\+\n(.+)\+-+\+\n(.+)\+-+\+/gs)) {
      const [head, parts] = [box[1]!, box[2]!];
      let name: string | null = null;
      let ds: TpmDatasource = { role: '', status: '' };
      for (const m of head.matchAll(/\|(\S*)\((\S*):(\S*),[\s]progress=([-0-9]*),[\s](.*)=([0-9.-]*)/gs)) {
        name = m[1]!;
        ds = { role: m[2]!, status: m[3]!, seqno: m[4]!, latency: m[6]! };
      }
      for (const m of head.matchAll(/\|(\S*)\(([a-zA-Z]*):([a-zA-Z]*)(:([a-zA-Z]*))?/gs)) {
        if (name === null) {
          name = m[1]!;
          ds = { role: m[2]!, status: m[3]! };
        }
        if ((m[5] ?? '') !== '') ds.state = m[5]!;
      }
      for (const m of parts.matchAll(/REPLICATOR\(role=(\S*),[\s]?state=(\S*)\)/gs)) ds.replicator = { role: m[1]!, status: m[2]! };
      for (const m of parts.matchAll(/REPLICATOR\(role=(\S*),[\s]?master=(\S*),[\s]?state=(\S*)\)/gs)) {
        ds.replicator = { role: m[1]!, master: m[2]!, status: m[3]! };
      }
      for (const m of parts.matchAll(/MANAGER\(state=(\S*)\)/gs)) ds.manager = m[1]!;
      for (const m of parts.matchAll(/DATASERVER\(state=(\S*)\)/gs)) ds.dataserver = m[1]!;
      view.datasources[String(name)] = ds;
    }
  }
  return view;
}

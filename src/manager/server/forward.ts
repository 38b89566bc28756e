/**
 * A member that is not the coordinator passes control calls (and task lookups it cannot answer yet)
 * to the coordinator: the same path, the caller's own credentials, and a header naming the member
 * that took the call, for the audit log. The answer comes back as the coordinator gave it, bounded
 * in size and time.
 */
import http from 'node:http';
import https from 'node:https';
import { ToolkitError } from '../../errors.js';

export const VIA_HEADER = 'x-tungsten-via';
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export interface ForwardRequest {
  coordinator: { name: string; url: string };
  via: string;
  method: 'GET' | 'POST';
  /** Path and query, as received. */
  target: string;
  authorization: string | undefined;
  body: Record<string, unknown> | null;
  timeoutMs: number;
  /** The task id a control call carries (in its body): named when the call goes unanswered. */
  taskId?: string | null;
}

export interface ForwardAnswer {
  status: number;
  contentType: string;
  location: string | null;
  body: Buffer;
}

export function forward(req: ForwardRequest): Promise<ForwardAnswer> {
  const url = new URL(req.target, req.coordinator.url);
  const transport = url.protocol === 'https:' ? https : http;
  const payload = req.body === null ? null : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = { [VIA_HEADER]: req.via, accept: 'application/json' };
  if (req.authorization) headers.authorization = req.authorization;
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  const unreachable = (why: string) =>
    new ToolkitError('unreachable', `the coordinator '${req.coordinator.name}' (${req.coordinator.url}) did not take the call: ${why}`, 'Retry in a few seconds: the group elects another coordinator when one is gone.');
  return new Promise<ForwardAnswer>((resolve, reject) => {
    let sent = false;
    const r = transport.request(url, { method: req.method, headers, timeout: req.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) {
          r.destroy(new Error(`its answer exceeds ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 502,
          contentType: String(res.headers['content-type'] ?? 'application/json'),
          location: typeof res.headers.location === 'string' ? res.headers.location : null,
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', (e) => reject(unreachable(e.message)));
    });
    r.on('timeout', () => r.destroy(new Error(`no answer within ${req.timeoutMs} ms`)));
    r.on('error', (e: NodeJS.ErrnoException) => {
      // A control call that may have reached the coordinator has an unknown outcome: never resent here.
      if (sent && req.method === 'POST' && e.code !== 'ECONNREFUSED') {
        const task = req.taskId ? ` (task ${req.taskId})` : '';
        const hint = req.taskId ? `Check it with: history ${req.taskId} (no such task means it never started)` : 'Check it with: ls and history';
        reject(new ToolkitError('timeout', `the call was passed to the coordinator '${req.coordinator.name}'${task}, which did not answer (${e.message}): its outcome is unknown`, hint));
        return;
      }
      reject(unreachable(e.code ?? e.message));
    });
    r.on('finish', () => {
      sent = true;
    });
    r.end(payload ?? undefined);
  });
}

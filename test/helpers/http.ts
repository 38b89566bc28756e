/** Raw HTTP(S) requests for tests that check the wire itself (status, headers, body). */
import http from 'node:http';
import https from 'node:https';

export interface RawRequest {
  method?: string;
  user?: string;
  password?: string;
  /** Sent as is (a string) or as JSON (anything else). */
  body?: unknown;
  headers?: Record<string, string>;
  /** For https with a self-signed certificate. */
  ca?: string | Buffer;
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: any;
}

export function rawRequest(url: string, options: RawRequest = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.user !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`;
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(url, { method: options.method ?? 'GET', headers, agent: false, ca: options.ca });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.end(body);
  });
}

/** Collects server-sent events until `until` says stop (or the timeout passes). */
export function collectSse(
  url: string,
  options: { user: string; password: string; until: (events: Array<{ event: string; data: any }>) => boolean; timeoutMs?: number; ca?: string | Buffer; onOpen?: () => void },
): Promise<Array<{ event: string; data: any }>> {
  return new Promise((resolve, reject) => {
    const events: Array<{ event: string; data: any }> = [];
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(url, {
      agent: false,
      ca: options.ca,
      headers: {
        accept: 'text/event-stream',
        authorization: `Basic ${Buffer.from(`${options.user}:${options.password}`).toString('base64')}`,
      },
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`SSE: condition not met in time; got ${JSON.stringify(events.map((e) => e.event))}`));
    }, options.timeoutMs ?? 5000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        clearTimeout(timer);
        reject(new Error(`SSE: HTTP ${res.statusCode}`));
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      options.onOpen?.();
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n').filter((l) => !l.startsWith(':'));
          if (lines.length === 0) continue;
          const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
          const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          events.push({ event, data: JSON.parse(data) });
        }
        if (options.until(events)) {
          clearTimeout(timer);
          req.destroy();
          resolve(events);
        }
      });
    });
    req.end();
  });
}

/** Helpers of the attack specs: raw HTTP/1.1 requests (headers exactly as written) and an introspection counter. */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { connect } from 'node:net';

export interface RawResult {
  status: number;
  headers: Record<string, string[]>;
  body: string;
}

/** One HTTP/1.1 request written as given (header lines in order, duplicates kept), the answer read to the end. */
export function raw(port: number, path: string, headers: [string, string][], method = 'GET'): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const result: RawResult = { status: Number(statusLine.split(' ')[1]), headers: {}, body: rest.join('\r\n\r\n') };
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        (result.headers[name] ??= []).push(line.slice(colon + 1).trim());
      }
      resolve(result);
    });
    const lines = [`${method} ${path} HTTP/1.1`, ...headers.map(([n, v]) => `${n}: ${v}`), 'connection: close', '', ''];
    socket.write(lines.join('\r\n'));
  });
}

/** Counts the introspections this process starts (the module's diagnostics channel). */
export function countIntrospections(): { readonly count: number; stop(): void } {
  const state = { count: 0 };
  const listener = () => state.count++;
  subscribe('nest-resource-server:introspection:start', listener);
  return {
    get count() {
      return state.count;
    },
    stop: () => unsubscribe('nest-resource-server:introspection:start', listener),
  };
}

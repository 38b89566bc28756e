import { Box, render, Text } from 'ink';
import { useEffect, useState } from 'react';
import type { HostProgress } from '../../diag/types.js';

export interface ProgressStore {
  subscribe(fn: () => void): () => void;
  snapshot(): HostProgress[];
}

export function createProgressStore(): ProgressStore & { update(p: HostProgress): void } {
  const hosts = new Map<string, HostProgress>();
  const listeners = new Set<() => void>();
  return {
    update(p) {
      hosts.set(p.host, p);
      listeners.forEach((l) => l());
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    snapshot: () => [...hosts.values()],
  };
}

const COLOR: Record<string, string> = { ok: 'green', partial: 'yellow', timeout: 'red', unreachable: 'red', auth_failed: 'red', host_key_rejected: 'red' };

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

export function DiagProgressView({ store, now = Date.now }: { store: ProgressStore; now?: () => number }) {
  const [hosts, setHosts] = useState(store.snapshot());
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setHosts(store.snapshot())), [store]);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 500);
    return () => clearInterval(t);
  }, []);
  const width = Math.max(4, ...hosts.map((h) => h.host.length));
  return (
    <Box flexDirection="column">
      {hosts.map((h) => {
        const state = h.phase === 'done' ? h.status ?? 'done' : h.phase;
        const elapsed = h.startedAt ? (((h.finishedAt ?? now()) - h.startedAt) / 1000).toFixed(1) : '0.0';
        return (
          <Text key={h.host}>
            {h.host.padEnd(width)}  <Text color={COLOR[state] ?? 'cyan'}>{state.padEnd(17)}</Text> {String(h.files).padStart(4)} files {mib(h.bytes).padStart(10)} {elapsed.padStart(6)} s
          </Text>
        );
      })}
    </Box>
  );
}

/** Renders the per-host lines on stderr until stop(); the last frame stays on screen. */
export function startDiagProgressView(stream: NodeJS.WriteStream): { listener: (p: HostProgress) => void; stop: () => void } {
  const store = createProgressStore();
  const instance = render(<DiagProgressView store={store} />, { stdout: stream, exitOnCtrlC: false, patchConsole: false });
  let stopped = false;
  return {
    listener: (p) => store.update(p),
    stop: () => {
      if (stopped) return;
      stopped = true;
      instance.unmount();
    },
  };
}

import { stripVTControlCharacters } from 'node:util';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { createProgressStore, DiagProgressView } from '../../src/ui/diag/progress.js';

const strip = (s: string | undefined) => stripVTControlCharacters(s ?? '');
let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('the diag progress view', () => {
  it('shows one line per host with state, files, bytes and elapsed time, updated live', async () => {
    const store = createProgressStore();
    const view = render(<DiagProgressView store={store} now={() => 5000} />);
    cleanup = view.cleanup;
    store.update({ host: 'db1', phase: 'collecting', files: 3, bytes: 3 * 1048576, startedAt: 2000 });
    store.update({ host: 'db22', phase: 'queued', files: 0, bytes: 0 });
    await new Promise((r) => setTimeout(r, 20));
    expect(strip(view.lastFrame()).split('\n')).toEqual([
      'db1   collecting           3 files    3.0 MiB    3.0 s',
      'db22  queued               0 files    0.0 MiB    0.0 s',
    ]);
    store.update({ host: 'db22', phase: 'done', status: 'host_key_rejected', files: 0, bytes: 0, startedAt: 1000, finishedAt: 1500 });
    await new Promise((r) => setTimeout(r, 20));
    expect(strip(view.lastFrame())).toContain('db22  host_key_rejected    0 files    0.0 MiB    0.5 s');
  });
});

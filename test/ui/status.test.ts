import { describe, expect, it } from 'vitest';
import { ALERT_SHOWN_MS, statusText, type StatusSnapshot } from '../../src/ui/status.js';

const now = Date.parse('2026-12-01T18:00:00Z');
const snapshot = (patch: Partial<StatusSnapshot> = {}): StatusSnapshot => ({
  address: 'http://manager-one.example.internal:8090',
  previous: null,
  service: 'alpha',
  policy: 'AUTOMATIC',
  master: 'db1',
  coordinator: 'db1',
  pending: [],
  answeredAt: now,
  error: null,
  ...patch,
});
const FULL = 'master db1 | policy AUTOMATIC | service alpha | coordinating manager db1 | manager http://manager-one.example.internal:8090';

describe('the status line fits the terminal', () => {
  it('whole when there is room', () => {
    expect(statusText(snapshot(), now).text).toBe(FULL);
    expect(statusText(snapshot(), now, FULL.length).text).toBe(FULL);
  });

  it("gives up the least important part first: the manager's URL is cut in the middle, then left out", () => {
    const at100 = statusText(snapshot(), now, 99).text;
    expect(at100).toBe('master db1 | policy AUTOMATIC | service alpha | coordinating manager db1 | manager http://m…al:8090');
    expect(at100.length).toBeLessThanOrEqual(99);
    expect(statusText(snapshot(), now, 79).text).toBe('master db1 | policy AUTOMATIC | service alpha | coordinating manager db1');
  });

  it('then the service; what is left is cut at the end, never wrapped', () => {
    expect(statusText(snapshot(), now, 60).text).toBe('master db1 | policy AUTOMATIC | coordinating manager db1');
    expect(statusText(snapshot(), now, 20).text).toBe('master db1');
    expect(statusText(snapshot({ master: 'a-datasource-with-a-long-name' }), now, 20).text).toBe('master a-datasource…');
  });

  it('the manager that stopped answering gives way before the one answering', () => {
    const s = snapshot({ previous: 'http://manager-two.example.internal:8090' });
    expect(statusText(s, now).text).toBe(`${FULL} (http://manager-two.example.internal:8090 stopped answering)`);
    expect(statusText(s, now, 150).text).toBe(`${FULL} (manager changed)`);
  });

  it("the manager's last alert, with its age, while it is recent; cut to the width", () => {
    const line = 'MANAGER: SPLIT-BRAIN GUARD: made db2@alpha read-only (slave, ONLINE): ended 3 client sessions';
    expect(statusText(snapshot({ alert: { line, at: now - 12_000 } }), now).alert).toBe('ALERT (12 s ago): SPLIT-BRAIN GUARD: made db2@alpha read-only (slave, ONLINE): ended 3 client sessions');
    expect(statusText(snapshot({ alert: { line, at: now - 180_000 } }), now, 40).alert).toBe('ALERT (3 min ago): SPLIT-BRAIN GUARD: m…');
    expect(statusText(snapshot({ alert: { line, at: now - ALERT_SHOWN_MS - 1 } }), now).alert).toBeNull();
    expect(statusText(snapshot(), now).alert).toBeNull();
  });

  it('control characters a manager sent are shown escaped, and measured as shown', () => {
    const s = snapshot({ service: 'al\u001bpha', address: 'http://x' });
    const { text } = statusText(s, now, 200);
    expect(text).toContain('service al\\x1bpha');
    expect(text).not.toContain('\u001b');
  });
});

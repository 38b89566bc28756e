/**
 * The interactive shell: finished output in <Static> scrollback, a short live region (running
 * command, confirmation, completion candidates), the prompt, and the status line.
 */
import { Box, Static, Text, useApp, useInput, useStdout } from 'ink';
import { useCallback, useEffect, useRef, useState } from 'react';
import { neutraliseControls } from '../controlChars.js';
import { renderOutcomeText } from '../format/render.js';
import { MAX_LINE_BYTES } from '../shell/lines.js';
import type { Statement } from '../shell/parser.js';
import { complete } from '../shell/completion.js';
import type { History } from '../shell/history.js';
import type { Outcome } from '../format/result.js';
import { memberChangeNote } from '../shell/services.js';
import { EXPERT_WARNING, type Shell } from '../shell/session.js';
import { statusText, type StatusSnapshot } from './status.js';
import type { ManagerAlert, ServiceStatus } from '../manager/model.js';
import { alertLine, Announcer, masterOf } from './alerts.js';
import { TaskWatcher } from './watch.js';

export interface ShellAppProps {
  shell: Shell;
  history: History;
  banner: string[];
  /** Called once, with the exit code, when the user leaves. */
  onExit(code: number): void;
  color: boolean;
  statusIntervalMs?: number;
  /** Longest line that may be typed or pasted; the rest is dropped with a notice. Default 1 MiB, as scripted. */
  maxLineChars?: number;
}

interface Item {
  id: number;
  text: string;
  tone?: 'error' | 'dim' | 'step';
}

/** Control characters never reach the line being edited. */
function clean(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, '');
}

/** What Ctrl-C says: it cancels, and how to leave instead. */
export const LEAVE_HINT = 'Ctrl-C cancels; to leave the shell: Ctrl-D on an empty line, or quit';

export function ShellApp({ shell, history, banner, onExit, color, statusIntervalMs = 2000, maxLineChars = MAX_LINE_BYTES }: ShellAppProps) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  /** The terminal's width as Ink renders to it (read again at each render: the status line ticks every second). */
  const columns = () => stdout.columns || 80;
  const nextId = useRef(0);
  const [items, setItems] = useState<Item[]>(() => banner.map((text) => ({ id: nextId.current++, text, tone: 'dim' })));
  const [line, setLine] = useState('');
  const [cursor, setCursor] = useState(0);
  const [running, setRunning] = useState<string | null>(null);
  const [candidates, setCandidates] = useState<string[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<{ statement: Statement; resolve: (yes: boolean) => void } | null>(null);
  const [prompt, setPrompt] = useState(shell.prompt());
  const abortRef = useRef<AbortController | null>(null);
  /** Lines typed or pasted ahead, run in order once the current command ends. */
  const pasted = useRef<string[]>([]);
  /** The unfinished line typed ahead (no Enter yet): it comes back to the prompt. */
  const typedAhead = useRef('');
  const exited = useRef(false);


  const append = useCallback((text: string, tone?: Item['tone']) => {
    // Whatever the manager sent (names, step lines, errors), no control character reaches the terminal.
    const lines = neutraliseControls(text.replace(/\n$/, '')).split('\n');
    setItems((prev) => [...prev, ...lines.map((t) => ({ id: nextId.current++, text: t, tone }))]);
  }, []);

  const { snapshot: status, refresh: refreshStatus } = useManagerStatus(
    shell,
    statusIntervalMs,
    () => runningRef.current !== null,
    (lines) => append(lines.join('\n'), 'error'),
    (note) => append(note, 'error'),
  );

  const leave = useCallback(
    (code: number) => {
      if (exited.current) return;
      exited.current = true;
      onExit(code);
      exit();
    },
    [exit, onExit],
  );

  useEffect(() => {
    shell.refreshNames().catch(() => undefined);
  }, [shell]);

  // The input handler reads the line through refs: a key can arrive before React re-subscribes
  // the handler of the latest render, and a stale closure would lose what was typed.
  const lineRef = useRef({ line: '', cursor: 0 });
  const confirmingRef = useRef(confirming);
  confirmingRef.current = confirming;
  const runningRef = useRef(running);
  runningRef.current = running;
  const capped = (value: string): string => {
    if (value.length <= maxLineChars) return value;
    setNotice(`a line holds at most ${maxLineChars} characters: the rest was dropped`);
    return value.slice(0, maxLineChars);
  };
  const edit = (input: string, at = input.length) => {
    const value = capped(input);
    const cursorAt = Math.max(0, Math.min(at, value.length));
    lineRef.current = { line: value, cursor: cursorAt };
    setLine(value);
    setCursor(cursorAt);
  };

  const submit = async (text: string) => {
    append(`${shell.prompt()}${text}`);
    edit('');
    setCandidates([]);
    setNotice(null);
    history.add(text);
    if (!text.trim()) return runTypedAhead();
    const abort = new AbortController();
    abortRef.current = abort;
    runningRef.current = text.trim();
    setRunning(text.trim());
    let quit = false;
    const onOutcome = (o: Outcome) => {
      const rendered = renderOutcomeText(o, { streamed: true, width: columns() });
      if (rendered.out) append(rendered.out);
      if (rendered.err) append(rendered.err, 'error');
      if (o.result?.kind === 'quit') quit = true;
    };
    await shell.runLine(
      text,
      {
        signal: abort.signal,
        progress: (l) => {
          append(l, 'step');
          void refreshStatus();
        },
      },
      onOutcome,
    );
    // What the command changed is its own output, not an alert: the status is read again before
    // the shell counts as idle.
    await Promise.race([refreshStatus(), new Promise((r) => setTimeout(r, 2000))]);
    abortRef.current = null;
    runningRef.current = null;
    setRunning(null);
    setPrompt(shell.prompt());
    if (quit) return leave(0);
    shell.refreshNames().catch(() => undefined);
    runTypedAhead();
  };

  /** The next line typed ahead runs; when none is left, the unfinished one is back on the prompt. */
  const runTypedAhead = () => {
    const next = pasted.current.shift();
    if (next !== undefined) return void submit(next);
    if (typedAhead.current) edit(typedAhead.current);
    typedAhead.current = '';
  };

  /** Splits typed or pasted text at line ends: whole lines wait their turn, the tail stays unfinished. */
  const typeAhead = (text: string) => {
    const pieces = text.split(/\r\n|\r|\n/);
    typedAhead.current = capped(typedAhead.current + clean(pieces.shift()!));
    for (const piece of pieces) {
      pasted.current.push(typedAhead.current);
      typedAhead.current = capped(clean(piece));
    }
  };

  // Expert-level confirmation: the shell asks, the next line typed answers.
  useEffect(() => {
    shell.setConfirm(
      (statement) =>
        new Promise<boolean>((resolve) => {
          const pending = { statement, resolve };
          confirmingRef.current = pending;
          setConfirming(pending);
        }),
    );
  }, [shell]);

  useInput((input, key) => {
    const { line, cursor } = lineRef.current;
    const confirming = confirmingRef.current;
    const running = runningRef.current;
    if (key.ctrl && input === 'c') {
      // Ctrl-C cancels (the line, a confirmation, the wait for a command); it never leaves the shell,
      // however often it is pressed: leaving (and, with --demo, discarding the cluster) takes Ctrl-D or quit.
      pasted.current = [];
      typedAhead.current = '';
      if (confirming) {
        confirming.resolve(false);
        confirmingRef.current = null;
        setConfirming(null);
      } else if (abortRef.current) {
        abortRef.current.abort();
      } else {
        edit('');
      }
      setNotice(LEAVE_HINT);
      return;
    }
    if (key.ctrl && input === 'd') {
      if (line === '' && !running) leave(0);
      return;
    }
    if (running && !confirming) {
      // Kept, not dropped: a paste arrives in chunks, and an operator types the next command ahead.
      if (key.return) typeAhead('\n');
      else if (key.backspace || key.delete) typedAhead.current = typedAhead.current.slice(0, -1);
      else if (!key.ctrl && !key.meta && !key.escape && !key.tab) typeAhead(input);
      return;
    }
    if (key.return) {
      if (confirming) {
        append(`${EXPERT_WARNING}${line}`);
        const yes = /^y(es)?$/i.test(line.trim());
        confirming.resolve(yes);
        confirmingRef.current = null;
        setConfirming(null);
        edit('');
        return;
      }
      void submit(line);
      return;
    }
    setNotice(null);
    if (key.tab) {
      if (confirming) return;
      const c = complete(line.slice(0, cursor), shell.completionContext());
      edit(c.line + line.slice(cursor), c.line.length);
      setCandidates(c.candidates.length > 1 ? c.candidates : []);
      return;
    }
    setCandidates([]);
    if (key.upArrow && !confirming) return edit(history.previous(line));
    if (key.downArrow && !confirming) return edit(history.next());
    if (key.leftArrow) return edit(line, cursor - 1);
    if (key.rightArrow) return edit(line, cursor + 1);
    if (key.home || (key.ctrl && input === 'a')) return edit(line, 0);
    if (key.end || (key.ctrl && input === 'e')) return edit(line, line.length);
    if (key.ctrl && input === 'u') return edit(line.slice(cursor), 0);
    if (key.ctrl && input === 'w') {
      const before = line.slice(0, cursor).replace(/\S+\s*$/, '');
      return edit(before + line.slice(cursor), before.length);
    }
    // Terminals send DEL (0x7f) for Backspace, which Ink reports as `delete` (ink#634).
    if (key.backspace || key.delete) {
      if (cursor === 0) return;
      return edit(line.slice(0, cursor - 1) + line.slice(cursor), cursor - 1);
    }
    if (key.ctrl || key.meta || key.escape) return;
    // A chunk can carry Tab or Enter with the text (a fast typist, a paste, a terminal driver):
    // it is replayed piece by piece.
    let text = line;
    let at = cursor;
    for (const piece of input.split(/(\t|\r\n|\r|\n)/)) {
      if (piece === '\t') {
        if (confirming) continue;
        const c = complete(text.slice(0, at), shell.completionContext());
        text = c.line + text.slice(at);
        at = c.line.length;
        setCandidates(c.candidates.length > 1 ? c.candidates : []);
      } else if (piece === '\r' || piece === '\n' || piece === '\r\n') {
        if (confirming) {
          append(`${EXPERT_WARNING}${text}`);
          confirming.resolve(/^y(es)?$/i.test(text.trim()));
          confirmingRef.current = null;
        setConfirming(null);
          edit('');
        } else {
          // Pasted lines after this one run in order once it ends.
          typeAhead(input.slice(input.indexOf(piece) + piece.length));
          void submit(text);
        }
        return;
      } else {
        const typed = clean(piece);
        text = text.slice(0, at) + typed + text.slice(at);
        at += typed.length;
      }
    }
    edit(text, at);
  });

  const tone = (t: Item['tone']) => (!color ? undefined : t === 'error' ? 'red' : t === 'dim' ? 'gray' : t === 'step' ? 'cyan' : undefined);
  // One column short of the terminal: a line that fills the last column leaves the cursor at its edge.
  const { text: statusLine, warning, coming, alert } = statusText(status, Date.now(), columns() - 1);
  const shownPrompt = confirming ? 'Do you want to continue? (y/n)> ' : neutraliseControls(prompt);
  return (
    <>
      <Static items={items}>
        {(item) => (
          <Text key={item.id} color={tone(item.tone)}>
            {item.text || ' '}
          </Text>
        )}
      </Static>
      <Box flexDirection="column">
        {confirming ? <Text>{EXPERT_WARNING.replace(/\n[^\n]*$/, '')}</Text> : null}
        {running && !confirming ? (
          <Text color={color ? 'yellow' : undefined}>running: {running} (Ctrl-C stops waiting)</Text>
        ) : null}
        {candidates.length > 0 ? <Text>{neutraliseControls(candidates.slice(0, 40).join('  '))}</Text> : null}
        {notice ? <Text color={color ? 'yellow' : undefined}>{notice}</Text> : null}
        {running && !confirming ? null : (
          <Text>
            {shownPrompt}
            {line.slice(0, cursor)}
            <Text inverse>{line[cursor] ?? ' '}</Text>
            {line.slice(cursor + 1)}
          </Text>
        )}
        <Text color={color ? 'gray' : undefined}>{statusLine}</Text>
        {coming.map((c) => (
          <Text key={c} color={color ? 'yellow' : undefined}>
            COMING: {neutraliseControls(c)}
          </Text>
        ))}
        {alert ? <Text color={color ? 'red' : undefined}>{alert}</Text> : null}
        {warning ? <Text color={color ? 'red' : undefined}>WARNING: {neutraliseControls(warning)}</Text> : null}
      </Box>
    </>
  );
}

/**
 * The status line's data: the service status as the manager's event stream pushes it (at once),
 * and polled as well (which also tells when the manager stops answering). Whatever changed without
 * this shell (a failover, another operator's switch, a FAILED master under MANUAL) is announced
 * once as MANAGER lines; so are tasks it did not start, noticed from the event stream (from the
 * history only while the stream is unavailable) and followed as the shell follows its own, and
 * the manager's own alerts (a fenced server, a failed automatic repair), which stay under the
 * status line a while too.
 * `refresh()` reads the status now (after a command or a step line, so the status line never lags
 * behind what the scrollback says).
 */
function useManagerStatus(
  shell: Shell,
  intervalMs: number,
  busy: () => boolean,
  onAlert: (lines: string[]) => void,
  onMemberNote: (line: string) => void,
): { snapshot: StatusSnapshot; refresh: () => Promise<void> } {
  const [snapshot, setSnapshot] = useState<StatusSnapshot>({
    address: shell.api.address,
    previous: null,
    service: shell.state.service,
    policy: null,
    master: null,
    coordinator: null,
    pending: [],
    answeredAt: null,
    error: null,
  });
  const [, setTick] = useState(0);
  const onAlertRef = useRef(onAlert);
  onAlertRef.current = onAlert;
  const busyRef = useRef(busy);
  busyRef.current = busy;
  const onMemberNoteRef = useRef(onMemberNote);
  onMemberNoteRef.current = onMemberNote;
  const refreshRef = useRef<() => Promise<void>>(async () => undefined);
  useEffect(
    () =>
      shell.api.onMemberChange?.((change) => {
        setSnapshot((prev) => ({ ...prev, address: change.to, previous: change.from }));
        onMemberNoteRef.current(memberChangeNote(change));
      }),
    [shell],
  );
  useEffect(() => {
    let stopped = false;
    const stream = new AbortController();
    const watchers = new Map<string, TaskWatcher>();
    const watcherOf = (service: string): TaskWatcher => {
      let watcher = watchers.get(service);
      if (!watcher) {
        watcher = new TaskWatcher({
          api: shell.api,
          owns: (id) => shell.ownsTask(id),
          show: (lines) => !stopped && onAlertRef.current(lines),
          signal: stream.signal,
        });
        watchers.set(service, watcher);
      }
      return watcher;
    };
    /** The last status seen, by service: what the next one is compared with. */
    const last = new Map<string, ServiceStatus>();
    const announcer = new Announcer();
    let sampledAt = '';
    const show = (service: string, s: ServiceStatus) => {
      if (stopped) return;
      // An older answer (a poll overtaken by the stream) never replaces a newer one.
      if (last.get(service) && s.sampledAt < sampledAt) return;
      sampledAt = s.sampledAt;
      const alerts = busyRef.current() ? [] : announcer.changes(last.get(service) ?? null, s);
      last.set(service, s);
      if (alerts.length > 0) onAlertRef.current(alerts);
      const coordinator = s.coordinator.state === 'ONLINE' ? s.coordinator.host : `${s.coordinator.host} (${s.coordinator.state})`;
      const pending = s.datasources.flatMap((d) => (d.pendingAction ? [d.pendingAction] : []));
      setSnapshot((prev) => ({ ...prev, address: shell.api.address, service, policy: s.policy, master: masterOf(s)?.name ?? null, coordinator, pending, answeredAt: Date.now(), error: null }));
    };
    /** A manager's alert: in the scrollback at once, and on the status line (of the service shown). */
    const announce = (service: string, alert: ManagerAlert) => {
      if (stopped) return;
      const line = alertLine(alert);
      const said = announcer.alert(alert);
      if (said !== null) onAlertRef.current([said]);
      if (shell.state.service === service) setSnapshot((prev) => ({ ...prev, alert: { line, at: Date.now() } }));
    };
    /**
     * By service: whether its event stream is open (tasks are then noticed from it), not (they are
     * noticed from the history), or not answered yet (neither: the history is not read for nothing).
     */
    const streams = new Map<string, 'opening' | 'open' | 'down'>();
    const watchService = (service: string) => {
      if (streams.has(service)) return;
      if (!shell.api.watchEvents) return void streams.set(service, 'down');
      streams.set(service, 'opening');
      const watcher = watcherOf(service);
      shell.api.watchEvents(
        service,
        {
          onEvent: (event) => {
            if (event.type === 'state') show(service, event.status);
            else if (event.type === 'alert') announce(service, event.alert);
            watcher.event(event);
          },
          onStream: (open) => {
            if (open) watcher.streamOpened();
            streams.set(service, open ? 'open' : 'down');
          },
        },
        stream.signal,
      );
    };
    // One poll at a time: with several managers not answering, one poll can outlast the interval.
    let polling: Promise<void> | null = null;
    let again = false;
    const poll = async (wait = false): Promise<void> => {
      if (polling) {
        if (wait) return polling.then(() => poll(true));
        again = true;
        if (!stopped) setTick((t) => t + 1); // the stale warning still counts on
        return;
      }
      let done = () => {};
      polling = new Promise<void>((r) => (done = r));
      const service = shell.state.service;
      try {
        if (service) {
          watchService(service);
          show(service, await shell.api.serviceStatus(service));
          // The history only while the event stream is unavailable: the fallback, not the path.
          if (streams.get(service) === 'down') watcherOf(service).history(await shell.api.history(service, 5));
        } else {
          const info = await shell.api.info();
          if (!stopped) {
            setSnapshot((prev) => ({ ...prev, address: shell.api.address, service: null, policy: info.policyMode, master: null, coordinator: info.coordinator, pending: [], answeredAt: Date.now(), error: null }));
          }
        }
      } catch (e) {
        if (!stopped) setSnapshot((prev) => ({ ...prev, error: e instanceof Error ? e.message : String(e) }));
      } finally {
        polling = null;
        done();
      }
      if (!stopped) setTick((t) => t + 1);
      if (again && !stopped) {
        again = false;
        void poll();
      }
    };
    refreshRef.current = () => poll(true);
    void poll();
    const timer = setInterval(() => void poll(), intervalMs);
    // The countdown on the status line runs between answers.
    const clock = setInterval(() => !stopped && setTick((t) => t + 1), 1000);
    return () => {
      stopped = true;
      stream.abort();
      clearInterval(timer);
      clearInterval(clock);
    };
  }, [shell, intervalMs]);
  return { snapshot, refresh: () => refreshRef.current() };
}

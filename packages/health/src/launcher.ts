/** `idle`: only CPU nothing else wants (Linux `SCHED_IDLE`); a number: that niceness. */
export type ProbePriority = 'idle' | number;

export interface Launch {
  /** The command line that starts the probe process. */
  readonly argv: readonly string[];
  /** Set when the priority asked for cannot be had here, saying what is used instead. */
  readonly warning?: string;
}

export interface LaunchHost {
  readonly platform: NodeJS.Platform;
  /** The path of a program on PATH, or undefined. */
  find(program: string): string | undefined;
}

/**
 * How to start `command` at `priority`. The scheduling class is set by a launcher
 * program (util-linux `chrt`, coreutils `nice`) rather than by the process itself, so
 * that every thread of it (V8's GC helpers included, which do part of the probes'
 * work) is born with it.
 *
 * Why `SCHED_IDLE` and not a niceness: on Linux's EEVDF scheduler a task woken by a
 * DNS query does not preempt a nice-5 neighbour on its core before that neighbour's
 * slice ends; it does preempt a `SCHED_IDLE` one at once, mostly (for where not, see
 * `PROBE_NODE_FLAGS` in health-checker.ts). Measured on 2026-11-25
 * (kernel 6.18, DNS served on the core a spinner shared, 2 ms busy in every 5): DNS
 * p99 0.28–0.37 ms alone, 1.95–2.28 ms beside the spinner at nice 5, 0.30–0.51 ms
 * beside it at `SCHED_IDLE` (in the same session; across sessions, autogroups compare
 * as groups, whatever their tasks' classes).
 */
export function launchProbeProcess(priority: ProbePriority, command: readonly string[], host: LaunchHost): Launch {
  if (priority === 'idle' && host.platform === 'linux') {
    const chrt = host.find('chrt');
    if (chrt) return { argv: [chrt, '--idle', '0', ...command] };
  }
  const nice = priority === 'idle' ? 19 : priority;
  const fallback = priority === 'idle' && host.platform === 'linux' ? 'chrt (util-linux) is not on PATH: ' : '';
  if (nice === 0) return { argv: [...command] };
  const program = host.platform === 'win32' ? undefined : host.find('nice');
  if (!program) return { argv: [...command], warning: `${fallback}nice is not on PATH: the probe process runs at the agent's priority` };
  return { argv: [program, '-n', String(nice), ...command], ...(fallback ? { warning: `${fallback}the probe process runs at nice 19, which DNS answers do not preempt` } : {}) };
}

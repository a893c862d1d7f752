import { readFileSync } from 'node:fs';

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
export function launchProbeProcess(priority: ProbePriority, command: readonly string[], host: LaunchHost, cpus?: string): Launch {
  const placed = placeOnCpus(cpus, command, host);
  const prioritized = atPriority(priority, placed.argv, host);
  const warnings = [placed.warning, prioritized.warning].filter((w): w is string => w !== undefined);
  return { argv: prioritized.argv, ...(warnings.length ? { warning: warnings.join('; ') } : {}) };
}

/**
 * `command` confined to the CPUs of `cpus` (a list as `taskset -c` takes it) through
 * util-linux `taskset`, which sets the affinity and execs it: every thread of the probe
 * process is then born on those CPUs. Linux only.
 */
function placeOnCpus(cpus: string | undefined, command: readonly string[], host: LaunchHost): Launch {
  if (cpus === undefined) return { argv: command };
  if (host.platform !== 'linux') return { argv: command, warning: `cpus applies on Linux only: the probe process runs on every CPU` };
  const taskset = host.find('taskset');
  if (!taskset) return { argv: command, warning: `taskset (util-linux) is not on PATH: the probe process runs on every CPU, not only on ${cpus}` };
  return { argv: [taskset, '--cpu-list', cpus, ...command] };
}

function atPriority(priority: ProbePriority, command: readonly string[], host: LaunchHost): Launch {
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

/**
 * The CPUs of a list as `taskset -c` and Linux's `Cpus_allowed_list` write it ("0",
 * "2-3", "0,4-7"), in ascending order; undefined if it is not one.
 */
export function parseCpuList(list: string): number[] | undefined {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(list)) return undefined;
  const cpus = new Set<number>();
  for (const part of list.split(',')) {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    if (to < from || to - from > 65_535) return undefined;
    for (let n = from; n <= to; n++) cpus.add(n);
  }
  return [...cpus].sort((a, b) => a - b);
}

/**
 * The CPUs online (Linux's `/sys/devices/system/cpu/online`); undefined elsewhere. A
 * child may be given any of them, not only those its parent runs on.
 */
export function onlineCpus(file = '/sys/devices/system/cpu/online'): number[] | undefined {
  try {
    return parseCpuList(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** `[0, 1, 2, 5]` as "0-2,5". */
export function formatCpus(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; i++) {
    const from = cpus[i]!;
    while (i + 1 < cpus.length && cpus[i + 1] === cpus[i]! + 1) i++;
    parts.push(from === cpus[i] ? String(from) : `${from}-${cpus[i]}`);
  }
  return parts.join(',');
}

/** The CPUs this process may run on (Linux's `Cpus_allowed_list` in `/proc/self/status`); undefined elsewhere. */
export function ownCpus(file = '/proc/self/status'): number[] | undefined {
  try {
    const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(file, 'utf8'))?.[1];
    return list === undefined ? undefined : parseCpuList(list);
  } catch {
    return undefined;
  }
}

/**
 * What to tell an operator who pinned the agent and left `cpus` unset: the probe process
 * inherits the agent's CPUs, so the probes share the cores that answer DNS, which is the
 * one layout where checks cost DNS p99 most (README, Metrics). Nothing when the agent may
 * run everywhere (the kernel then places the probes) or nothing is known.
 */
export function sharedCpusWarning(own: readonly number[] | undefined, online: readonly number[] | undefined): string | undefined {
  if (!own || !online) return undefined;
  const others = online.filter((n) => !own.includes(n));
  if (others.length === 0) return undefined;
  return `the agent runs on CPU ${formatCpus(own)} only (online: ${formatCpus(online)}) and its probe process inherits that, so the probes share the CPUs that answer DNS and add to its latency; set cpus to CPUs the agent does not use, such as "${formatCpus(others)}"`;
}

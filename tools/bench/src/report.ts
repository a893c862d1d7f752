import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One measured figure. `aim` is the target from the issue, shown beside it (never asserted). */
export interface Metric {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly aim?: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly parameters: Readonly<Record<string, number | string>>;
  readonly metrics: readonly Metric[];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(3);
}

/** A plain-text table, one metric a row. */
export function table(result: ScenarioResult): string {
  const rows = result.metrics.map((m) => [m.name, fmt(m.value), m.unit, m.aim ?? '']);
  const head = ['metric', 'value', 'unit', 'aim'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]): string => cells.map((cell, c) => (c === 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  const params = Object.entries(result.parameters).map(([k, v]) => `${k}=${v}`).join(' ');
  return [`scenario ${result.scenario} (${params})`, line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Writes the result as JSON beside the runner; returns the file. */
export async function save(result: ScenarioResult, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${result.scenario}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify({ ...result, node: process.version, at: new Date().toISOString() }, null, 2)}\n`);
  return file;
}

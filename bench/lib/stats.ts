/**
 * Shared figures for the benchmark harness: percentiles, timing, resource sampling from /proc,
 * and the row type every section returns (bench/run.ts turns rows into the table, JSON and chart).
 */
import { readFileSync } from "node:fs";

export interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function summarize(samples: readonly number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, x) => sum + x, 0) / (sorted.length || 1);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, mean };
}

/** Wall time of one call in milliseconds. */
export async function timeIt(fn: () => unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** `runs` timed calls after `warmup` untimed ones. */
export async function sample(runs: number, fn: (i: number) => unknown, warmup = 0): Promise<number[]> {
  for (let i = 0; i < warmup; i += 1) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < runs; i += 1) out.push(await timeIt(() => fn(i)));
  return out;
}

/**
 * One line of the results table. Latency rows carry `stats` (milliseconds); single figures
 * (RSS in MB, CPU in %, rates) carry `value` with their `unit`. `baseline` names the id of the
 * row this one is compared with (the ratio is computed on p50, or on value). `target` is the
 * issue's goal for this row, checked on p50 (latency) or value.
 */
export interface BenchRow {
  section: string;
  id: string;
  name: string;
  unit: "ms" | "MB" | "%" | "/s" | "s" | "nodes";
  stats?: Stats;
  value?: number;
  /** Id(s) of the rows this one is compared with. */
  baseline?: string | string[];
  target?: { op: "<=" | ">="; value: number };
  note?: string;
}

/** What a section hands back: its rows and, for each measurement it could not make, why. */
export interface SectionResult {
  rows: BenchRow[];
  skipped: string[];
}

export interface SectionOptions {
  quick: boolean;
  log: (line: string) => void;
}

/** CPU time (user+system, ms) and RSS (MB) of a process, read from /proc. */
export function procUsage(pid: number): { cpuMs: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return { cpuMs: (ticks * 1000) / 100, rssMb: rssKb / 1024 };
}

/** Average CPU % of one core and the last RSS of a process (and its children when given) over `ms`. */
export async function measureProcess(pids: readonly number[], ms: number): Promise<{ cpuPercent: number; rssMb: number }> {
  const total = (): { cpuMs: number; rssMb: number } =>
    pids.map(procUsage).reduce((a, b) => ({ cpuMs: a.cpuMs + b.cpuMs, rssMb: a.rssMb + b.rssMb }), { cpuMs: 0, rssMb: 0 });
  const before = total();
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = total();
  return { cpuPercent: ((after.cpuMs - before.cpuMs) / (performance.now() - started)) * 100, rssMb: after.rssMb };
}

/** Every descendant pid of a process (for process trees such as a CLI that re-execs itself). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number): void => {
    let children: string;
    try {
      children = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim();
    } catch {
      return;
    }
    for (const c of children.split(/\s+/).filter(Boolean).map(Number)) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

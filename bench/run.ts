/**
 * `npm run bench [-- --quick]`: exec round trip and broadcast fan-out on a real local fleet
 * (nats-server + coordinator + N workers in this process), p50/p99, against the floor of a
 * local `sh -c true` spawn. Prints a Markdown table and writes bench/results/<date>.json and .md.
 * Issue 10 extends this harness (simulated fleets, ssh and OpenClaw baselines).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { TestFleet } from "../test/helpers/fleet.js";
import { benchTasks } from "./tasks.js";

const quick = process.argv.includes("--quick");
const EXEC_RUNS = quick ? 30 : 300;
const BROADCAST_RUNS = quick ? 10 : 50;
const WORKERS = quick ? 3 : 10;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const fleet = new TestFleet({ worker: { heartbeat_interval: 5 }, coordinator: { heartbeat_timeout: 90, heartbeat_check_interval: 30 } });
const rows: Array<{ name: string; n: number; p50: number; p99: number; max: number; note: string }> = [];
try {
  await fleet.startNats();
  await fleet.startCoordinator();
  for (let i = 0; i < WORKERS; i += 1) await fleet.addApprovedWorker(`bench-${i}`, { worker: { max_concurrent_tasks: 5 } });

  const floor: number[] = [];
  for (let i = 0; i < EXEC_RUNS; i += 1) floor.push(await time(() => spawnSync("/bin/sh", ["-c", "true"])));
  const floorStats = summary(floor);
  rows.push({ name: "floor: local spawn of sh -c true", ...floorStats, note: "baseline" });

  for (let i = 0; i < 5; i += 1) await fleet.client.exec("bench-0", "true");
  const exec: number[] = [];
  for (let i = 0; i < EXEC_RUNS; i += 1) exec.push(await time(() => fleet.client.exec("bench-0", "true")));
  const execStats = summary(exec);
  rows.push({ name: "exec `true` on one worker via HTTP API", ...execStats, note: `${(execStats.p50 / floorStats.p50).toFixed(1)}x floor p50` });

  const bcast: number[] = [];
  for (let i = 0; i < BROADCAST_RUNS; i += 1) {
    bcast.push(
      await time(async () => {
        const outcome = await fleet.client.broadcast("true");
        if (outcome.summary.ok !== WORKERS) throw new Error(`broadcast missing nodes: ${JSON.stringify(outcome.summary)}`);
      }),
    );
  }
  rows.push({ name: `broadcast \`true\` to ${WORKERS} workers, all results in`, ...summary(bcast), note: "missing = 0 every run" });
} finally {
  await fleet.close();
}
if (!process.argv.includes("--no-tasks")) rows.push(...(await benchTasks(quick)));

const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;
const table = [
  `| measurement | runs | p50 | p99 | max | note |`,
  `|---|---|---|---|---|---|`,
  ...rows.map((r) => `| ${r.name} | ${r.n} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.max)} | ${r.note} |`),
].join("\n");
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const meta = { date: new Date().toISOString(), quick, node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model ?? "unknown", workers: WORKERS };
console.log(`\nOpenClaw Federation benchmark (${quick ? "quick" : "full"}; ${meta.cpus} cores, Node ${meta.node}, workers in-process)\n`);
console.log(table);
const dir = join(import.meta.dirname, "results");
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify({ meta, rows }, null, 2)}\n`);
writeFileSync(join(dir, `${stamp}.md`), `# Benchmark ${meta.date}\n\n${JSON.stringify(meta)}\n\n${table}\n`);
console.log(`\nwrote bench/results/${stamp}.json and .md`);

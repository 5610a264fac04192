/**
 * `npm run soak -- --minutes N [--nodes 1000]`: a coordinator (child process) with N simulated
 * nodes heartbeating every 5 s (bench/sim-node.ts: real keys, JWTs and messages) plus one real
 * worker (child process) running an exec every second, for N minutes. Every 10 s it samples the
 * coordinator's and the worker's RSS, CPU and open file descriptors and the SQLite size into a CSV
 * and draws an SVG chart (bench/results/soak-<time>.*). It fails on a growth trend: memory or file
 * descriptors rising steadily through the run.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../src/util/net.js";
import { spawnCli, TestFleet, waitFor } from "../test/helpers/fleet.js";
import { SimNode } from "./sim-node.js";
import { scriptArgs } from "./lib/args.js";

const USAGE = `usage: npm run soak [-- --minutes N] [--nodes N]
  --minutes N   how long to run (default 1; fractions allowed)
  --nodes N     simulated nodes heartbeating every 5 s (default 1000)
  -h, --help    this text
Writes bench/results/soak-<time>.csv and .svg; exits 1 on a rising memory or file-descriptor trend.`;
const args = scriptArgs("soak", USAGE, { minutes: { type: "string" }, nodes: { type: "string" } });
const MINUTES = args.number("minutes", 1, { whole: false });
const NODES = args.number("nodes", 1000, { whole: true });
const SAMPLE_MS = 10_000;

interface Sample {
  t_s: number;
  coordinator_rss_mb: number;
  coordinator_cpu_pct: number;
  coordinator_fds: number;
  worker_rss_mb: number;
  worker_cpu_pct: number;
  worker_fds: number;
  sqlite_mb: number;
  execs_ok: number;
}

function proc(pid: number): { rssMb: number; cpuTicks: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    rssMb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024,
    cpuTicks: Number(fields[11]) + Number(fields[12]),
    fds: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i += 1) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function chart(samples: Sample[]): string {
  const w = 720;
  const h = 320;
  const pad = 40;
  const series: Array<[keyof Sample, string]> = [["coordinator_rss_mb", "#2358c4"], ["worker_rss_mb", "#1a7f37"], ["coordinator_fds", "#b26a00"], ["sqlite_mb", "#c62828"]];
  const maxT = Math.max(1, ...samples.map((s) => s.t_s));
  const maxY = Math.max(1, ...samples.flatMap((s) => series.map(([k]) => s[k] as number)));
  const x = (t: number): number => pad + (t / maxT) * (w - 2 * pad);
  const y = (v: number): number => h - pad - (v / maxY) * (h - 2 * pad);
  const lines = series.map(([key, color], i) => {
    const points = samples.map((s) => `${x(s.t_s).toFixed(1)},${y(s[key] as number).toFixed(1)}`).join(" ");
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/><text x="${pad + i * 170}" y="18" fill="${color}" font-size="12">${key}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/><line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#999"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#999"/><text x="${w / 2}" y="${h - 8}" font-size="12">seconds (0–${maxT})</text><text x="4" y="${pad}" font-size="12">${maxY.toFixed(0)}</text>${lines.join("")}</svg>\n`;
}

const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const fleet = new TestFleet({ coordinator: { port, auto_approve: true, heartbeat_timeout: 30, heartbeat_check_interval: 5, enroll_rate_per_minute: 1_000_000 }, communication: { coordinator_url: url }, log: { level: "warn" } });
const nodes: SimNode[] = [];
const children: ChildProcess[] = [];
let failed = false;
try {
  await fleet.startNats();
  const coordinator = await fleet.spawnCoordinator(url, fleet.configFile("coordinator"));
  children.push(coordinator);
  const client = fleet.client;
  const worker = spawnCli(["worker", "-c", fleet.configFile("worker", { worker: { state_dir: join(fleet.dir, "w") } }), "--node-id", "soak-worker"]);
  children.push(worker);
  for (let i = 0; i < NODES; i += 1) {
    const node = new SimNode(`soak-${i}`, 5);
    await node.start(url, fleet.nats.url);
    nodes.push(node);
  }
  await waitFor("every node online", async () => (await client.nodes()).filter((n) => n.status === "online").length === NODES + 1, 120_000, 500);
  console.log(`[soak] ${NODES} simulated nodes + 1 worker online; running ${MINUTES} min`);

  let execsOk = 0;
  const execTimer = setInterval(() => {
    void client.exec("soak-worker", "true", 5000).then(() => (execsOk += 1), () => undefined);
  }, 1000);
  const samples: Sample[] = [];
  const started = Date.now();
  const hz = 100;
  let last = { c: proc(coordinator.pid as number), w: proc(worker.pid as number), at: Date.now() };
  const dbPath = join(fleet.dir, "cluster.db");
  const size = (p: string): number => (existsSync(p) ? statSync(p).size : 0);
  while (Date.now() - started < MINUTES * 60_000) {
    await new Promise((r) => setTimeout(r, SAMPLE_MS));
    const now = { c: proc(coordinator.pid as number), w: proc(worker.pid as number), at: Date.now() };
    const seconds = (now.at - last.at) / 1000;
    samples.push({
      t_s: Math.round((now.at - started) / 1000),
      coordinator_rss_mb: +now.c.rssMb.toFixed(1),
      coordinator_cpu_pct: +(((now.c.cpuTicks - last.c.cpuTicks) / hz / seconds) * 100).toFixed(1),
      coordinator_fds: now.c.fds,
      worker_rss_mb: +now.w.rssMb.toFixed(1),
      worker_cpu_pct: +(((now.w.cpuTicks - last.w.cpuTicks) / hz / seconds) * 100).toFixed(1),
      worker_fds: now.w.fds,
      sqlite_mb: +((size(dbPath) + size(`${dbPath}-wal`)) / 1048576).toFixed(2),
      execs_ok: execsOk,
    });
    last = now;
    console.log(`[soak] ${JSON.stringify(samples.at(-1))}`);
  }
  clearInterval(execTimer);

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = join(import.meta.dirname, "results");
  mkdirSync(dir, { recursive: true });
  const keys = Object.keys(samples[0] ?? {}) as Array<keyof Sample>;
  writeFileSync(join(dir, `soak-${stamp}.csv`), `${keys.join(",")}\n${samples.map((s) => keys.map((k) => s[k]).join(",")).join("\n")}\n`);
  writeFileSync(join(dir, `soak-${stamp}.svg`), chart(samples));
  // A trend, not noise: skip the first sample (warm-up) and project the slope over an hour.
  const steady = samples.slice(1);
  if (steady.length >= 3) {
    const t = steady.map((s) => s.t_s);
    const rss = steady.map((s) => s.coordinator_rss_mb);
    const fds = steady.map((s) => s.coordinator_fds);
    const base = rss[0] as number;
    const rssPerHour = slope(t, rss) * 3600;
    const fdsPerHour = slope(t, fds) * 3600;
    console.log(`[soak] coordinator RSS trend ${rssPerHour.toFixed(1)} MB/h (from ${base} MB), fds trend ${fdsPerHour.toFixed(1)}/h`);
    if (rssPerHour > base * 0.5) {
      console.error(`[soak] FAIL: coordinator memory grows ${rssPerHour.toFixed(1)} MB/h`);
      failed = true;
    }
    if (fdsPerHour > 100) {
      console.error(`[soak] FAIL: coordinator file descriptors grow ${fdsPerHour.toFixed(0)}/h`);
      failed = true;
    }
  }
  console.log(`[soak] wrote bench/results/soak-${stamp}.csv and .svg; ${execsOk} execs ok`);
} finally {
  for (const node of nodes) await node.stop().catch(() => undefined);
  for (const child of children) child.kill("SIGKILL");
  await fleet.close();
}
process.exit(failed ? 1 : 0);

/**
 * `npm run bench [-- --quick]`: every figure of issue 10 in one run on this machine, each beside the
 * baseline measured in the same run. Sections: exec (floor, HTTP API, `ocf exec`, idle worker),
 * ssh (ssh, pssh and ansible over loopback), OpenClaw's node path (gateway + node host), scale
 * (full worker processes, 100 / 1,000 / 10,000 simulated nodes, enrollment storm, heartbeat load,
 * detection, coordinator RSS) and durable tasks. Writes bench/results/<stamp>.json, .md and .svg;
 * a full run also rewrites BENCHMARKS.md. --quick (< 2 minutes, run by CI) keeps every section
 * except OpenClaw's but with small counts; its files are named <stamp>-quick.* and not committed.
 *
 * Flags: --quick, --skip exec,ssh,openclaw,scale,tasks, --processes N, --max-nodes N.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, relative } from "node:path";
import { benchExec } from "./sections/exec.js";
import { benchScale, type ScaleStep } from "./sections/scale.js";
import { benchTasks } from "./tasks.js";
import { measureSsh } from "./baselines/ssh.js";
import { measureOpenClaw } from "./baselines/openclaw.js";
import { markdownTable, svgChart, verdicts, type RunMeta } from "./lib/report.js";
import type { BenchRow, SectionResult } from "./lib/stats.js";
import { REPO_ROOT } from "../test/helpers/fleet.js";
import { methodText } from "./lib/method.js";
import { scriptArgs } from "./lib/args.js";

const SECTIONS = ["exec", "ssh", "openclaw", "scale", "tasks"];
const USAGE = `usage: npm run bench [-- options]
  --quick            small counts, < 2 minutes (CI); OpenClaw's section only with --openclaw
  --openclaw         with --quick: measure OpenClaw's node path too
  --skip LIST        comma-separated sections to leave out: ${SECTIONS.join(",")}
  --processes N      full worker processes in the scale section (1-200; default 100, quick 10)
  --max-nodes N      simulated nodes to reach (default 10000, quick 1100)
  -h, --help         this text
Writes bench/results/<stamp>.json, .md and .svg; a full run also rewrites BENCHMARKS.md.`;
const args = scriptArgs("bench", USAGE, { quick: { type: "boolean" }, openclaw: { type: "boolean" }, skip: { type: "string" }, processes: { type: "string" }, "max-nodes": { type: "string" } });
const options = args.values;
const quick = options.quick === true;
const skip = new Set((options.skip ?? "").split(",").filter(Boolean));
for (const name of skip) if (!SECTIONS.includes(name)) args.fail(`--skip: unknown section "${name}" (sections: ${SECTIONS.join(", ")})`);
const processes = args.number("processes", quick ? 10 : 100, { whole: true, max: 200 });
const maxNodes = args.number("max-nodes", quick ? 1100 : 10_000, { whole: true, max: 100_000 });
const started = Date.now();
const log = (line: string): void => {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};

const allSteps: ScaleStep[] = [
  { add: 100, reach: "all" },
  { add: 1000, reach: "step", storm: true },
  { add: 8900, reach: "all" },
];
const steps = allSteps.filter((_, i, all) => all.slice(0, i + 1).reduce((sum, s) => sum + s.add, 0) <= maxNodes);

const rows: BenchRow[] = [];
const skipped: string[] = [];
async function section(name: string, run: () => Promise<SectionResult>): Promise<void> {
  if (skip.has(name)) {
    skipped.push(`${name}: skipped with --skip`);
    return;
  }
  log(`section ${name}`);
  try {
    const result = await run();
    rows.push(...result.rows);
    skipped.push(...result.skipped);
  } catch (error) {
    // A section that fails is reported as such; the others still run. The exit code says so.
    process.exitCode = 1;
    skipped.push(`${name}: FAILED: ${(error as Error).message}`);
    log(`section ${name} failed: ${(error as Error).stack ?? String(error)}`);
  }
}

await section("exec", () => benchExec({ quick, log, runs: quick ? 50 : 300, cliRuns: quick ? 5 : 30, idleMs: quick ? 5000 : 10_000 }));
await section("ssh", () => measureSsh({ quick, log, runs: quick ? 10 : 100, fanoutRuns: quick ? 2 : 10, targets: 20 }));
if (quick && options.openclaw !== true) skipped.push("openclaw: not in --quick (installs ~840 MB and starts a gateway; run npm run bench)");
else await section("openclaw", () => measureOpenClaw({ quick, log, runs: quick ? 5 : 20 }));
await section("scale", () => benchScale({ quick, log, processes, steps, broadcastRuns: quick ? 5 : 20, heartbeatWindowMs: quick ? 5000 : 30_000 }));
await section("tasks", async () => ({
  rows: (await benchTasks(quick)).map((row, i) => ({
    section: "tasks",
    id: `tasks-${i}`,
    name: row.name,
    unit: "ms" as const,
    stats: { n: row.n, p50: row.p50, p99: row.p99, max: row.max, mean: NaN },
    note: row.note,
  })),
  skipped: [],
}));

// The published figure we compare fan-out with (not measured here).
rows.push({
  section: "broadcast",
  id: "choria-51000",
  name: "Choria: ~51,000 nodes pinged (published figure, not measured here)",
  unit: "ms",
  value: 3500,
  note: "R.I. Pienaar, \"50 000 Node Choria Network\", devco.net, 2018-03-07, as quoted in issue 10 (one NATS broker, 4 vCPU)",
});

const version = (cmd: string, args: string[]): string => {
  const out = spawnSync(cmd, args, { encoding: "utf8" });
  return (out.stdout || out.stderr || "").trim().split("\n")[0] ?? "";
};
const meta: RunMeta = {
  date: new Date().toISOString(),
  quick,
  node: process.version,
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? "unknown",
  memoryGb: Math.round(totalmem() / 2 ** 30),
  versions: {
    ocf: (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version,
    "nats-server": version("nats-server", ["--version"]) || version("/usr/sbin/nats-server", ["--version"]),
    ssh: version("ssh", ["-V"]),
  },
};

const table = markdownTable(rows);
const verdictLines = verdicts(rows).map((v) => `- ${v.met ? "met" : "NOT met"}: ${v.name}: ${v.measured} (target ${v.target})`);
const stamp = `${meta.date.slice(0, 19).replace(/[:T]/g, "-")}${quick ? "-quick" : skip.size ? "-partial" : ""}`;
const dir = join(REPO_ROOT, "bench", "results");
mkdirSync(dir, { recursive: true });
const svg = svgChart(rows, meta);
writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify({ meta, rows, skipped, verdicts: verdicts(rows) }, null, 2)}\n`);
writeFileSync(join(dir, `${stamp}.svg`), svg);
const md = [`# Benchmark ${meta.date} (${quick ? "quick" : "full"})`, "", `${meta.cpus} cores (${meta.cpu}), ${meta.memoryGb} GiB, Node ${meta.node}`, "", table, "", "Targets:", ...verdictLines, "", "Not measured:", ...(skipped.length ? skipped.map((s) => `- ${s}`) : ["- nothing"]), ""].join("\n");
writeFileSync(join(dir, `${stamp}.md`), md);

console.log(`\nOpenClaw Federation benchmark (${quick ? "quick" : "full"}; ${meta.cpus} cores, Node ${meta.node}; ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
console.log(table);
console.log(`\nTargets:\n${verdictLines.join("\n") || "- none measured"}`);
if (skipped.length) console.log(`\nNot measured:\n${skipped.map((s) => `- ${s}`).join("\n")}`);
console.log(`\nwrote ${relative(REPO_ROOT, join(dir, stamp))}.json, .md and .svg`);

if (!quick && !skip.size) {
  const doc = methodText({ meta, table, verdictLines, skipped, svgPath: `bench/results/${stamp}.svg`, jsonPath: `bench/results/${stamp}.json` });
  writeFileSync(join(REPO_ROOT, "BENCHMARKS.md"), doc);
  console.log("rewrote BENCHMARKS.md");
}

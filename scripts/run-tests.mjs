#!/usr/bin/env node
// `npm test`: runs the suite with Node's built-in runner through tsx (node --import tsx --test).
// Works from a fresh clone: when the Node running npm is older than 22 it switches to Node 24 in
// .runtime/ (installing it, the npm dependencies and nats-server when they are missing).
// Usage: npm test [-- <file or folder> ...]   (default: test/unit and test/integration)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const major = Number(process.versions.node.split(".")[0]);

function setup(fn) {
  const result = spawnSync("bash", ["-c", `. scripts/lib/runtime.sh && ${fn} && command -v node`], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, OCF_ROOT: root } });
  if (result.status !== 0) process.exit(result.status ?? 1);
  return result.stdout.trim().split("\n").pop();
}

if (major < 22) {
  const node = setup("ocf_ensure_node");
  const again = spawnSync(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, PATH: `${dirname(node)}:${process.env.PATH}`, npm_config_nodedir: dirname(dirname(node)) },
  });
  process.exit(again.status ?? 1);
}

if (!existsSync(join(root, "node_modules", "tsx"))) {
  console.error("[test] installing npm dependencies (npm ci)");
  const ci = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { stdio: "inherit" });
  if (ci.status !== 0) process.exit(ci.status ?? 1);
}
if (!["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].some((p) => existsSync(p)) && !process.env.OCF_NATS_SERVER) {
  setup("ocf_ensure_nats");
}

function collect(path) {
  if (statSync(path).isFile()) return path.endsWith(".test.ts") ? [path] : [];
  return readdirSync(path).sort().flatMap((entry) => collect(join(path, entry)));
}

const targets = process.argv.slice(2);
for (const target of targets) {
  if (!existsSync(target)) {
    console.error(`no such test file or folder: ${target}`);
    process.exit(2);
  }
}
const files = (targets.length ? targets : ["test/unit", "test/integration"].filter((dir) => existsSync(dir))).flatMap(collect);
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const concurrency = process.env.OCF_TEST_CONCURRENCY ?? "2";
// The whole run is bounded: a test that leaks a process must fail the run, never hang CI.
const limitMinutes = Number(process.env.OCF_TEST_LIMIT_MINUTES ?? "15");
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-timeout=180000", ...files],
  { stdio: "inherit", timeout: limitMinutes * 60_000, killSignal: "SIGKILL", env: { ...process.env, OCF_LOG_CONSOLE: process.env.OCF_LOG_CONSOLE ?? "none" } },
);
if (result.error?.code === "ETIMEDOUT") {
  console.error(`\ntest run stopped after ${limitMinutes} minutes (OCF_TEST_LIMIT_MINUTES): something hung`);
  process.exit(1);
}
process.exit(result.status ?? 1);

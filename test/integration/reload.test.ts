/**
 * Config hot reload on running processes (coordinator and worker as child processes): the
 * heartbeat timeout and the log level change live when the file changes, a worker's exec policy
 * on SIGHUP; a key that needs a restart is named on /health; an invalid file is refused with the
 * loader's key-precise message and the fleet keeps running. Also /metrics: families and counters.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { FleetClient } from "../../src/client/client.js";
import type { HealthReport } from "../../src/protocol/api.js";
import { freePort } from "../../src/util/net.js";
import { REPO_ROOT, spawnCli, TestFleet, waitFor } from "../helpers/fleet.js";

type Yaml = Record<string, Record<string, unknown>>;

describe("config hot reload and metrics", { timeout: 120_000 }, () => {
  let fleet: TestFleet;
  let url = "";
  let coordinatorFile = "";
  let workerFile = "";
  const children: ChildProcess[] = [];
  const edit = (file: string, change: (config: Yaml) => void): void => {
    const config = parse(readFileSync(file, "utf8")) as Yaml;
    change(config);
    writeFileSync(file, stringify(config));
  };
  const health = async (): Promise<HealthReport> => (await (await fetch(`${url}/health`)).json()) as HealthReport;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fleet = new TestFleet({ coordinator: { port, auto_approve: true, heartbeat_timeout: 30, heartbeat_check_interval: 0.2 }, communication: { coordinator_url: url }, log: { level: "info" } });
    await fleet.startNats();
    coordinatorFile = fleet.configFile("coordinator");
    children.push(await fleet.spawnCoordinator(url, coordinatorFile));
    workerFile = fleet.configFile("worker", { worker: { state_dir: join(fleet.dir, "w"), heartbeat_interval: 0.2 } });
    children.push(spawnCli(["worker", "-c", workerFile, "--node-id", "reloader"]));
    await waitFor("worker online", async () => (await fleet.client.nodes()).some((n) => n.id === "reloader" && n.status === "online"), 30_000, 200);
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await fleet.close();
  });

  test("log level and heartbeat timeout change live when the file changes", async () => {
    const log = join(fleet.dir, "logs", "coordinator.log");
    assert.doesNotMatch(readFileSync(log, "utf8"), /"msg":"heartbeat"/);
    edit(coordinatorFile, (c) => {
      (c.log as Record<string, unknown>).level = "debug";
      (c.coordinator as Record<string, unknown>).heartbeat_timeout = 1;
    });
    await waitFor("reloaded", async () => (await health()).config?.reloads === 1, 10_000, 100);
    await waitFor("debug lines in the log", () => /"msg":"heartbeat"/.test(readFileSync(log, "utf8")), 10_000, 100);
    const line = readFileSync(log, "utf8").split("\n").find((l) => l.includes('"msg":"config reloaded"')) ?? "";
    assert.deepEqual((JSON.parse(line) as { applied: string[] }).applied.sort(), ["coordinator.heartbeat_timeout", "log.level"]);
    // A worker that stops beating is now offline after ~1 s, not 30.
    const worker = children[1] as ChildProcess;
    worker.kill("SIGSTOP");
    const stopped = Date.now();
    await waitFor("offline soon", async () => (await fleet.client.node("reloader")).status === "offline", 10_000, 100);
    assert.ok(Date.now() - stopped < 5000, `offline after ${Date.now() - stopped} ms`);
    worker.kill("SIGCONT");
    await waitFor("back online", async () => (await fleet.client.node("reloader")).status === "online", 10_000, 100);
  });

  test("a key that needs a restart is named on /health; an invalid file is refused and the fleet keeps running", async () => {
    edit(coordinatorFile, (c) => {
      (c.coordinator as Record<string, unknown>).exec_timeout = 45;
    });
    await waitFor("restart_required", async () => (await health()).config?.restart_required.includes("coordinator.exec_timeout") === true, 10_000, 100);
    const good = readFileSync(coordinatorFile, "utf8");
    writeFileSync(coordinatorFile, good.replace(/heartbeat_timeout: 1\b/, 'heartbeat_timeout: "soon"'));
    await waitFor("refused", async () => (await health()).config?.last_error !== null, 10_000, 100);
    const report = await health();
    assert.match(report.config?.last_error ?? "", /coordinator\.heartbeat_timeout = "soon" is invalid: expected number/);
    assert.equal(report.status, "ok");
    assert.equal((await fleet.client.exec("reloader", "echo still")).stdout, "still\n");
    writeFileSync(coordinatorFile, good);
    await waitFor("error cleared", async () => (await health()).config?.last_error === null, 10_000, 100);
  });

  test("SIGHUP makes a worker apply a new exec policy", async () => {
    edit(workerFile, (c) => {
      (c.worker as Record<string, unknown>).exec_policy = "deny";
    });
    (children[1] as ChildProcess).kill("SIGHUP");
    await waitFor("policy applied", async () => {
      try {
        await fleet.client.exec("reloader", "true");
        return false;
      } catch (error) {
        return (error as { code?: string }).code === "policy_denied";
      }
    }, 10_000, 200);
  });

  test("/metrics: the families are there and counters move", async () => {
    const read = new FleetClient({ url, token: (await fleet.client.createToken("metrics-reader", "read")).token });
    const first = await read.metrics();
    for (const family of ["ocf_nodes", "ocf_join_requests_pending", "ocf_tasks", "ocf_heartbeats_received_total", "ocf_heartbeat_lag_seconds", "ocf_exec_duration_seconds", "ocf_broadcast_duration_seconds", "ocf_node_results_total", "ocf_nats_reconnects_total", "ocf_http_requests_total", "ocf_process_resident_memory_bytes"]) {
      assert.match(first, new RegExp(`^# TYPE ${family} `, "m"), family);
    }
    assert.match(first, /^ocf_nodes\{status="online"\} 1$/m);
    const count = (text: string, pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? 0);
    const beats = count(first, /^ocf_heartbeats_received_total (\d+)/m);
    await fleet.client.broadcast("true");
    await new Promise((r) => setTimeout(r, 500));
    const second = await read.metrics();
    assert.ok(count(second, /^ocf_heartbeats_received_total (\d+)/m) > beats, "heartbeats counted");
    assert.ok(count(second, /^ocf_broadcast_duration_seconds_count (\d+)/m) >= 1);
    assert.match(second, /^ocf_http_requests_total\{method="GET",route="\/metrics",status="200"\} \d+$/m);
    assert.equal((await fetch(`${url}/metrics`)).status, 401, "no token, no metrics");
    // The Grafana dashboard shipped in deploy/grafana uses only metrics that exist.
    const grafana = readFileSync(join(REPO_ROOT, "deploy", "grafana", "openclaw-federation.json"), "utf8");
    const used = new Set([...grafana.matchAll(/ocf_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, "")));
    for (const name of used) assert.match(second, new RegExp(`^# TYPE ${name} `, "m"), `${name} (used by the Grafana dashboard)`);
  });
});

/**
 * Partitions on a network built from namespaces (root only): nats-server and the coordinator on
 * one host, two workers on their own hosts, all on 100.64.0.0/24 through a bridge. A worker cut
 * off during a broadcast is reported (timeout or offline), never missing; offline detection is
 * measured against heartbeat_timeout + heartbeat_check_interval; a worker cut off mid-task loses
 * the attempt and the task runs on the other; after healing the node is back and the finished
 * task does not run again. Figures go to test-artifacts/partition.json.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import type { BroadcastOutcome, NodeView, TaskView } from "../../src/protocol/api.js";
import { natsServerConfig } from "../../src/transport/nats-server.js";
import { TrustStore } from "../../src/transport/trust.js";
import { REPO_ROOT, testConfig, waitFor, writeArtifact } from "../helpers/fleet.js";
import { Network, netnsUnavailable, type Host } from "../helpers/netns.js";

const SKIP = netnsUnavailable() ?? (existsSync(join(REPO_ROOT, "dist", "cli", "main.js")) ? undefined : "not built (npm run build)");
if (SKIP) console.log(`\n[partition] SKIPPED — ${SKIP}\n`);
const HEARTBEAT_TIMEOUT_S = 3;
const CHECK_S = 0.5;

describe("partitions between hosts (namespaces)", { skip: SKIP, timeout: 300_000 }, () => {
  let net: Network;
  const dir = mkdtempSync(join(tmpdir(), "ocf-partition-"));
  const hosts: Record<string, Host> = {};
  const children: ChildProcess[] = [];
  const figures: Record<string, unknown> = {};
  const file = (name: string): string => join(dir, `${name}.yaml`);

  const run = (host: string, args: string[]): ChildProcess => {
    const child = spawn("ip", ["netns", "exec", (hosts[host] as Host).ns, process.execPath, join(REPO_ROOT, "dist", "cli", "main.js"), ...args], { cwd: REPO_ROOT, env: { ...process.env, HOME: dir, OCF_LOG_CONSOLE: "none" }, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    return child;
  };
  /** An ocf command on the coordinator's host (the API is on its loopback). */
  const ocf = <T>(args: string[]): Promise<T> =>
    new Promise((resolve, reject) => {
      const child = run("hub", ["-c", file("coordinator"), "--json", ...args]);
      let out = "";
      let err = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
      child.once("exit", (code) => {
        try {
          resolve(JSON.parse(out) as T);
        } catch {
          reject(new Error(`ocf ${args.join(" ")} → ${code}: ${err || out}`));
        }
      });
    });
  const nodes = (): Promise<NodeView[]> => ocf<NodeView[]>(["nodes", "list"]);
  const status = async (id: string): Promise<string | undefined> => (await nodes()).find((n) => n.id === id)?.status;

  before(async () => {
    net = new Network();
    for (const name of ["nats", "hub", "w1", "w2"]) hosts[name] = net.addHost(name);
    const natsUrl = "nats://100.64.0.1:4222";
    const trust = await TrustStore.open(join(dir, "coordinator", "trust"));
    const natsDir = join(dir, "nats");
    const lines = natsServerConfig({ dir: natsDir, host: "100.64.0.1", port: 4222, jetstream: false, extraConfig: await trust.serverConfig(join(natsDir, "jwt")) });
    writeFileSync(join(dir, "nats.conf"), lines.join("\n"));
    children.push(spawn("ip", ["netns", "exec", (hosts.nats as Host).ns, "nats-server", "-c", join(dir, "nats.conf")], { stdio: "ignore" }));
    const base = testConfig(natsUrl, dir, {
      coordinator: { host: "0.0.0.0", port: 8888, auto_approve: true, heartbeat_timeout: HEARTBEAT_TIMEOUT_S, heartbeat_check_interval: CHECK_S },
      communication: { coordinator_url: "http://100.64.0.2:8888" },
    });
    writeFileSync(file("coordinator"), stringify(base));
    for (const id of ["w1", "w2"]) writeFileSync(file(id), stringify({ ...base, worker: { ...base.worker, state_dir: join(dir, "workers", id), heartbeat_interval: 0.5, labels: { pool: "p" } } }));
    await waitFor("nats up", async () => true, 1000);
    await new Promise((r) => setTimeout(r, 500));
    run("hub", ["coordinator", "-c", file("coordinator")]);
    await waitFor("coordinator healthy", async () => {
      try {
        return (await ocf<{ nats: { connected: boolean } }>(["health"])).nats.connected;
      } catch {
        return false;
      }
    }, 60_000, 500);
    for (const id of ["w1", "w2"]) run(id, ["worker", "-c", file(id), "--node-id", id]);
    await waitFor("both workers online", async () => (await nodes()).filter((n) => n.status === "online").length === 2, 60_000, 500);
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    net?.destroy();
    writeArtifact("partition.json", figures);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a worker cut off during a broadcast is reported, never missing; detection within timeout + check interval; healing brings it back", async () => {
    const w2 = hosts.w2 as Host;
    const pending = ocf<BroadcastOutcome>(["broadcast", "sleep 1; echo done", "--timeout", "4s"]);
    await new Promise((r) => setTimeout(r, 300));
    const cutAt = Date.now();
    net.cut(w2);
    // Watch for the offline mark from the moment of the cut (beside the broadcast).
    const detection = waitFor("w2 offline", async () => ((await status("w2")) === "offline" ? Date.now() - cutAt : undefined), 30_000, 50);
    const outcome = await pending;
    assert.equal(outcome.results.length, 2, "every node is in the result");
    assert.equal(outcome.results.find((r) => r.node_id === "w1")?.status, "ok");
    assert.ok(["timeout", "offline"].includes(outcome.results.find((r) => r.node_id === "w2")?.status ?? ""), JSON.stringify(outcome.results));
    const detected = await detection;
    figures.offline_detection_ms = detected;
    figures.offline_detection_bound_ms = (HEARTBEAT_TIMEOUT_S + CHECK_S) * 1000;
    // The last heartbeat came up to one interval before the cut; the CLI poll adds up to ~0.5 s.
    assert.ok(detected <= (HEARTBEAT_TIMEOUT_S + CHECK_S) * 1000 + 1500, `offline after ${detected} ms`);
    const offline = await ocf<BroadcastOutcome>(["broadcast", "true", "--timeout", "2s"]);
    assert.equal(offline.results.find((r) => r.node_id === "w2")?.status, "offline");
    const healAt = Date.now();
    net.heal(w2);
    await waitFor("w2 back online", async () => (await status("w2")) === "online", 60_000, 200);
    figures.back_online_after_heal_ms = Date.now() - healAt;
  });

  test("the coordinator cut off from NATS says so on /health and recovers by itself when the link heals", async () => {
    const hub = hosts.hub as Host;
    const cutAt = Date.now();
    net.cut(hub);
    await waitFor("health says NATS is down", async () => !(await ocf<{ nats: { connected: boolean } }>(["health"]).catch(() => ({ nats: { connected: true } }))).nats.connected, 60_000, 250);
    figures.coordinator_nats_loss_detected_ms = Date.now() - cutAt;
    const healAt = Date.now();
    net.heal(hub);
    await waitFor("health says NATS is back", async () => (await ocf<{ nats: { connected: boolean } }>(["health"]).catch(() => ({ nats: { connected: false } }))).nats.connected, 60_000, 250);
    figures.coordinator_nats_back_after_heal_ms = Date.now() - healAt;
    await waitFor("both workers online", async () => (await nodes()).filter((n) => n.status === "online").length === 2, 60_000, 500);
  });

  test("a worker cut off mid-task: the attempt is lost, the task runs on the other, and does not run again after healing", async () => {
    const task = await ocf<TaskView>(["tasks", "submit", "echo start; sleep 4; echo end", "--label", "pool=p", "--retries", "1"]);
    const running = await waitFor("running", async () => {
      const t = await ocf<TaskView>(["tasks", "show", task.id]);
      return t.state === "running" ? t : undefined;
    }, 20_000, 200);
    const victim = hosts[running.node_id as string] as Host;
    net.cut(victim);
    let last: TaskView | undefined;
    const final = await waitFor("task done elsewhere", async () => {
      const t = await ocf<TaskView>(["tasks", "show", task.id]);
      last = t;
      return t.state === "succeeded" ? t : undefined;
    }, 60_000, 500).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify(last)}`);
    });
    assert.equal(final.attempts?.[0]?.state, "lost");
    assert.notEqual(final.attempts?.[1]?.node_id, running.node_id);
    net.heal(victim);
    await waitFor("victim back online", async () => (await status(running.node_id as string)) === "online", 60_000, 200);
    // The cut-off worker's own result arrives now: acknowledged, not recorded; nothing runs again.
    await new Promise((r) => setTimeout(r, 3000));
    const later = await ocf<TaskView>(["tasks", "show", task.id]);
    assert.equal(later.state, "succeeded");
    assert.equal(later.attempts?.length, 2);
    assert.equal(later.attempts?.filter((a) => a.state === "succeeded").length, 1);
    figures.mid_task_cut = { attempts: later.attempts?.map((a) => `${a.node_id}:${a.state}`) };
  });
});

/**
 * Durable tasks against a real nats-server, coordinator and workers: placement within every
 * node's max_concurrent_tasks (checked from the recorded attempts), labels and capabilities,
 * streaming before the end, cancel killing the process group, retries, bad specs; and the kill
 * tests with child processes: SIGKILL a worker mid-task (retried elsewhere), SIGKILL the
 * coordinator with 200 tasks queued or running (each ends exactly once after the restart), and
 * a nats-server restart mid-run (nothing lost).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { subjects } from "../../src/protocol/subjects.js";
import { issueUserJwt, nodePermissions } from "../../src/transport/trust.js";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FleetClient, type ClientError } from "../../src/client/client.js";
import type { TaskView } from "../../src/protocol/api.js";
import { stopChild } from "../../src/sim/processes.js";
import { freePort } from "../../src/util/net.js";
import { runCli, spawnCli, TestFleet, waitFor } from "../helpers/fleet.js";

/** A process that ended (a zombie nobody reaped counts as ended). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

const FINAL = new Set(["succeeded", "failed", "timed_out", "cancelled", "lost"]);

async function untilFinal(client: FleetClient, ids: readonly string[], timeoutMs: number): Promise<TaskView[]> {
  return waitFor(
    `${ids.length} task(s) final`,
    async () => {
      const tasks = await Promise.all(ids.map((id) => client.task(id)));
      return tasks.every((t) => FINAL.has(t.state)) ? tasks : undefined;
    },
    timeoutMs,
    250,
  );
}

/** The most attempts that overlapped in time on each node, from what was recorded. */
function peakConcurrency(tasks: readonly TaskView[]): Map<string, number> {
  const edges = new Map<string, Array<[number, number]>>();
  for (const task of tasks) {
    for (const attempt of task.attempts ?? []) {
      if (!attempt.started_at || !attempt.finished_at) continue;
      const list = edges.get(attempt.node_id) ?? [];
      list.push([Date.parse(attempt.started_at), 1], [Date.parse(attempt.finished_at), -1]);
      edges.set(attempt.node_id, list);
    }
  }
  const peaks = new Map<string, number>();
  for (const [node, list] of edges) {
    // Ends before starts at the same millisecond: back-to-back is not overlap.
    list.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0;
    let peak = 0;
    for (const [, delta] of list) peak = Math.max(peak, (now += delta));
    peaks.set(node, peak);
  }
  return peaks;
}

describe("durable tasks: placement, streaming, cancel, retries, validation", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("one", { worker: { max_concurrent_tasks: 1 }, labels: { pool: "batch" } });
    await fleet.addApprovedWorker("two", { worker: { max_concurrent_tasks: 2 }, labels: { pool: "batch" } });
    await fleet.addApprovedWorker("five", { worker: { max_concurrent_tasks: 5 }, labels: { pool: "batch", gpu: "yes" } });
  });
  after(() => fleet.close());

  test("100 tasks over workers with limits 1, 2 and 5: all succeed, no node ever above its limit", async () => {
    const submitted = await fleet.client.submitTasks(Array.from({ length: 100 }, (_, i) => ({ command: `sleep 0.0${i % 5}; echo ${i}`, labels: { pool: "batch" } })));
    const done = await untilFinal(fleet.client, submitted.map((t) => t.id), 60_000);
    assert.ok(done.every((t) => t.state === "succeeded"), JSON.stringify(done.filter((t) => t.state !== "succeeded").slice(0, 3)));
    const peaks = peakConcurrency(done);
    assert.ok((peaks.get("one") ?? 0) <= 1, `one: ${peaks.get("one")}`);
    assert.ok((peaks.get("two") ?? 0) <= 2, `two: ${peaks.get("two")}`);
    assert.ok((peaks.get("five") ?? 0) <= 5, `five: ${peaks.get("five")}`);
    const used = new Set(done.map((t) => t.node_id));
    assert.equal(used.size, 3, "every node took work");
    assert.ok((peaks.get("five") ?? 0) > 1, "the big node ran several at once");
    assert.ok(done.every((t) => (t.attempts ?? []).length === 1 && t.attempts?.[0]?.stdout !== null));
  });

  test("placement: labels, capabilities and OS; a task that fits nowhere waits with the reason", async () => {
    const gpu = await fleet.client.submitTask({ command: "true", labels: { gpu: "yes" } });
    const pinned = await fleet.client.submitTask({ command: "true", node: "two" });
    const [gpuDone, pinnedDone] = await untilFinal(fleet.client, [gpu.id, pinned.id], 20_000);
    assert.equal(gpuDone?.node_id, "five");
    assert.equal(pinnedDone?.node_id, "two");
    const screen = await fleet.client.submitTask({ command: "true", requires: { capabilities: ["screen.capture"] } });
    const mac = await fleet.client.submitTask({ command: "true", requires: { os: "darwin" } });
    const waiting = await waitFor("reasons", async () => {
      const [a, b] = await Promise.all([fleet.client.task(screen.id), fleet.client.task(mac.id)]);
      return a.reason && b.reason ? [a, b] : undefined;
    });
    assert.equal(waiting[0]?.state, "queued");
    assert.match(waiting[0]?.reason ?? "", /no online node matches \(capabilities screen\.capture\): 3 missing screen\.capture/);
    assert.match(waiting[1]?.reason ?? "", /no online node matches \(os darwin\): 3 os linux/);
    for (const id of [screen.id, mac.id]) assert.equal((await fleet.client.cancelTask(id)).state, "cancelled");
  });

  test("output streams while the task runs (SSE and ocf tasks logs -f)", async () => {
    const task = await fleet.client.submitTask({ command: "echo first; sleep 1.5; echo second", node: "five" });
    const seen: Array<{ at: number; data: string }> = [];
    let endedAt = 0;
    const final = await fleet.client.followTask(task.id, (event) => {
      if (event.event === "output") seen.push({ at: Date.now(), data: event.data.data });
      if (event.event === "end") endedAt = Date.now();
    });
    assert.equal(final.state, "succeeded");
    const first = seen.find((s) => s.data.includes("first"));
    assert.ok(first, JSON.stringify(seen));
    assert.ok(endedAt - first.at >= 1000, `"first" came ${endedAt - first.at} ms before the end`);
    assert.ok(seen.some((s) => s.data.includes("second")));
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const logs = await runCli(["tasks", "logs", task.id], { env });
    assert.equal(logs.stdout, "first\nsecond\n");
    const followed = await runCli(["exec", "--follow", "two", "echo out; echo err >&2; exit 4"], { env });
    assert.equal(followed.code, 4);
    assert.equal(followed.stdout, "out\n");
    assert.match(followed.stderr, /^err\n/);
  });

  test("cancel kills the running task's whole process group", async () => {
    const pidFile = join(fleet.dir, "cancel.pid");
    const task = await fleet.client.submitTask({ command: `sleep 300 & echo $! > ${pidFile}; wait`, node: "five" });
    await waitFor("the task's child runs", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim().length > 0);
    const child = Number(readFileSync(pidFile, "utf8").trim());
    const cancelled = await fleet.client.cancelTask(task.id);
    assert.equal(cancelled.cancel_requested, true);
    const [final] = await untilFinal(fleet.client, [task.id], 10_000);
    assert.equal(final?.state, "cancelled");
    await waitFor("the sleep is gone", () => gone(child), 5000);
    await assert.rejects(fleet.client.cancelTask(task.id), (error: ClientError) => error.code === "conflict");
  });

  test("retries: a failing task runs max_retries + 1 times, then fails with its exit code; a timeout is timed_out", async () => {
    const failing = await fleet.client.submitTask({ command: "exit 3", max_retries: 2 });
    const slow = await fleet.client.submitTask({ command: "sleep 5", timeout_s: 0.5 });
    const [f, s] = await untilFinal(fleet.client, [failing.id, slow.id], 20_000);
    assert.equal(f?.state, "failed");
    assert.equal(f?.exit_code, 3);
    assert.equal(f?.attempts?.length, 3);
    assert.equal(s?.state, "timed_out");
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const shown = await runCli(["tasks", "show", failing.id], { env });
    assert.match(shown.stdout, /attempt 3 on \w+: failed \(exit 3\)/);
  });

  test("bad task specs get 400 naming the field; unknown node 404; a read token may not submit", async () => {
    const bad = async (body: unknown, pattern: RegExp, code = "bad_request"): Promise<void> => {
      const response = await fetch(`${fleet.coordinator?.url}/api/v1/tasks`, { method: "POST", headers: { authorization: `Bearer ${fleet.token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      const json = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, code, JSON.stringify(json));
      assert.match(json.error.message, pattern);
    };
    await bad({}, /command: give exactly one of command or skill/);
    await bad({ command: "true", skill: "disk-usage" }, /command: give exactly one of command or skill/);
    await bad({ command: "true", timeout_s: -1 }, /timeout_s/);
    await bad({ command: "true", priority: 5000 }, /priority/);
    await bad({ command: "true", colour: "red" }, /colour/);
    await bad({ command: "true", params: {} }, /params: params go with a skill/);
    await bad({ command: "true", node: "one", labels: { a: "b" } }, /labels: give node or labels, not both/);
    await bad({ tasks: [] }, /tasks/);
    await bad({ tasks: [{ command: "true" }, { command: "true", node: "nowhere" }] }, /tasks\[1\]\.node: /, "node_not_found");
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: (await fleet.client.createToken("tasks-reader", "read")).token });
    await assert.rejects(reader.submitTask({ command: "true" }), /needs "exec"/);
    assert.ok(Array.isArray((await reader.tasks({ limit: 5 })).tasks), "a read token lists tasks");
  });

  test("a node holding NATS credentials from before durable tasks renews them and takes tasks", async () => {
    await fleet.addApprovedWorker("elder");
    await fleet.stopWorker("elder");
    const stateDir = join(fleet.dir, "workers", "elder");
    const publicKey = (JSON.parse(readFileSync(join(stateDir, "node.json"), "utf8")) as { public_key: string }).public_key;
    const old = nodePermissions(subjects(), "elder");
    old.pub.allow = old.pub.allow.filter((subject) => !subject.endsWith(".tevt"));
    old.sub.allow = old.sub.allow.filter((subject) => !subject.endsWith(".task"));
    const oldJwt = await issueUserJwt((await fleet.trust()).trust, "elder", publicKey, old);
    writeFileSync(join(stateDir, "node.jwt"), oldJwt, { mode: 0o600 });
    await fleet.startWorker("elder");
    const task = await fleet.client.submitTask({ command: "echo renewed", node: "elder" });
    const [final] = await untilFinal(fleet.client, [task.id], 30_000);
    assert.equal(final?.state, "succeeded");
    assert.notEqual(readFileSync(join(stateDir, "node.jwt"), "utf8"), oldJwt);
    await fleet.stopWorker("elder");
  });

  test("list filters and pages; /api/v1/nodes shows the scheduler's running tasks", async () => {
    const page1 = await fleet.client.tasks({ limit: 10, state: "succeeded" });
    assert.equal(page1.tasks.length, 10);
    assert.ok(page1.next_before);
    const page2 = await fleet.client.tasks({ limit: 10, state: "succeeded", before: page1.next_before ?? 0 });
    assert.ok(page2.tasks.every((t) => !page1.tasks.some((p) => p.id === t.id)));
    const long = await fleet.client.submitTasks([1, 2, 3].map(() => ({ command: "sleep 2", node: "five" })));
    await waitFor("five shows 3 running tasks", async () => (await fleet.client.node("five")).load.running_tasks === 3, 5000);
    await untilFinal(fleet.client, long.map((t) => t.id), 15_000);
  });
});

describe("durable tasks survive crashes (child processes, SIGKILL)", { timeout: 240_000 }, () => {
  let fleet: TestFleet;
  let coordinator: ChildProcess | undefined;
  let url = "";
  const children: ChildProcess[] = [];

  const startCoordinator = async (): Promise<void> => {
    coordinator = await fleet.spawnCoordinator(url, join(fleet.dir, "coordinator.yaml"));
    children.push(coordinator);
  };
  const spawnWorker = (nodeId: string, extra: Record<string, unknown> = {}): ChildProcess => {
    const file = fleet.configFile(`worker-${nodeId}`, { worker: { state_dir: join(fleet.dir, "workers", nodeId), ...extra } });
    const child = spawnCli(["worker", "-c", file, "--node-id", nodeId]);
    children.push(child);
    return child;
  };

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fleet = new TestFleet({ coordinator: { port, auto_approve: true, heartbeat_timeout: 2, heartbeat_check_interval: 0.2 }, communication: { coordinator_url: url } });
    await fleet.startNats();
    fleet.configFile("coordinator");
    await startCoordinator();
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await fleet.close();
  });

  test("SIGKILL the worker running a task: the attempt is lost and the task runs on another node", async () => {
    const victim = spawnWorker("victim", { labels: { pool: "crash" } });
    spawnWorker("survivor", { labels: { pool: "crash" } });
    await waitFor("both online", async () => (await fleet.client.nodes()).filter((n) => n.status === "online").length === 2, 30_000, 200);
    const marker = join(fleet.dir, "ran-on");
    // Sticks to the first node least_loaded picks; that one gets killed.
    const task = await fleet.client.submitTask({ command: `echo $PPID >> ${marker}.$(hostname); sleep 2; echo finished`, labels: { pool: "crash" }, max_retries: 1 });
    const running = await waitFor("task running", async () => {
      const t = await fleet.client.task(task.id);
      return t.state === "running" ? t : undefined;
    }, 15_000);
    const target = running.node_id === "victim" ? victim : children.find((c) => c !== victim && c !== coordinator && c.spawnargs.includes("survivor"));
    target?.kill("SIGKILL");
    const [final] = await untilFinal(fleet.client, [task.id], 30_000);
    assert.equal(final?.state, "succeeded");
    assert.equal(final?.attempts?.length, 2);
    assert.equal(final?.attempts?.[0]?.state, "lost");
    assert.match(final?.attempts?.[0]?.error ?? "", /offline/);
    assert.notEqual(final?.attempts?.[1]?.node_id, final?.attempts?.[0]?.node_id);
    assert.match(final?.attempts?.[1]?.stdout ?? "", /finished/);
  });

  test("a worker restarted after SIGKILL kills what its task left running and reports the attempt lost; the retry runs", async () => {
    const first = spawnWorker("phoenix", { labels: { pool: "phoenix" } });
    await waitFor("phoenix online", async () => (await fleet.client.nodes()).some((n) => n.id === "phoenix" && n.status === "online"), 30_000, 200);
    const marker = join(fleet.dir, "phoenix.marker");
    const pidFile = join(fleet.dir, "phoenix.pid");
    const task = await fleet.client.submitTask({ command: `if [ -f ${marker} ]; then echo second run; else touch ${marker}; sleep 300 & echo $! > ${pidFile}; wait; fi`, labels: { pool: "phoenix" }, max_retries: 1 });
    await waitFor("the first run's child", () => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim().length > 0, 15_000);
    const orphan = Number(readFileSync(pidFile, "utf8").trim());
    first.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!gone(orphan), "still running: nobody killed it yet");
    spawnWorker("phoenix", { labels: { pool: "phoenix" } });
    const [final] = await untilFinal(fleet.client, [task.id], 30_000);
    assert.equal(final?.state, "succeeded");
    assert.equal(final?.attempts?.[0]?.state, "lost");
    assert.match(final?.attempts?.[0]?.error ?? "", /restarted|offline/);
    assert.match(final?.attempts?.[1]?.stdout ?? "", /second run/);
    assert.ok(gone(orphan), "the restarted worker killed the orphaned process group");
  });

  test("SIGKILL the coordinator with 200 tasks queued or running: after the restart each ends once", async () => {
    spawnWorker("w-a", { max_concurrent_tasks: 5, labels: { pool: "crash2" } });
    spawnWorker("w-b", { max_concurrent_tasks: 5, labels: { pool: "crash2" } });
    await waitFor("workers online", async () => (await fleet.client.nodes()).filter((n) => n.status === "online" && n.labels.pool === "crash2").length === 2, 30_000, 200);
    const log = join(fleet.dir, "runs.log");
    const tasks = await fleet.client.submitTasks(Array.from({ length: 200 }, (_, i) => ({ command: `echo job-${i} >> ${log}; sleep 0.05`, labels: { pool: "crash2" } })));
    await waitFor("some done, some not", async () => {
      const done = (await fleet.client.tasks({ state: "succeeded", limit: 1000 })).tasks.filter((t) => tasks.some((s) => s.id === t.id)).length;
      return done >= 20 && done < 150;
    }, 30_000, 50);
    coordinator?.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    await startCoordinator();
    const final = await untilFinal(fleet.client, tasks.map((t) => t.id), 90_000);
    assert.ok(final.every((t) => t.state === "succeeded"), JSON.stringify(final.filter((t) => t.state !== "succeeded").slice(0, 2)));
    for (const task of final) assert.equal((task.attempts ?? []).filter((a) => a.state === "succeeded").length, 1, `${task.id} recorded once`);
    const runs = readFileSync(log, "utf8").trim().split("\n");
    const counts = new Map<string, number>();
    for (const line of runs) counts.set(line, (counts.get(line) ?? 0) + 1);
    assert.equal(counts.size, 200, "every job ran");
    assert.deepEqual([...counts.entries()].filter(([, n]) => n > 1), [], "no job ran twice");
  });

  test("restart nats-server mid-run: nothing lost, nothing run twice", async () => {
    // The promise is for an outage shorter than the heartbeat timeout (a longer one marks the nodes
    // offline and their attempts lost, by design). The outage below lasts 1 s plus nats-server's
    // start plus the clients' reconnect wait (1–1.5 s per try): 2–3.5 s on a busy machine, over the
    // 2 s this block's coordinator uses, so this test restarts it with 15 s.
    if (coordinator) await stopChild(coordinator);
    fleet.configFile("coordinator", { coordinator: { heartbeat_timeout: 15 } });
    await startCoordinator();
    await waitFor("workers online", async () => (await fleet.client.nodes()).filter((n) => n.status === "online" && n.labels.pool === "crash2").length === 2, 30_000, 200);
    const log = join(fleet.dir, "nats-runs.log");
    const tasks = await fleet.client.submitTasks(Array.from({ length: 60 }, (_, i) => ({ command: `echo n-${i} >> ${log}; sleep 0.1`, labels: { pool: "crash2" } })));
    await waitFor("under way", async () => existsSync(log) && readFileSync(log, "utf8").split("\n").length > 5, 20_000, 50);
    const port = fleet.nats.port;
    await fleet.nats.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await fleet.startNats(port);
    const final = await untilFinal(fleet.client, tasks.map((t) => t.id), 90_000);
    assert.ok(final.every((t) => t.state === "succeeded"), JSON.stringify(final.filter((t) => t.state !== "succeeded").slice(0, 2)));
    const counts = new Map<string, number>();
    for (const line of readFileSync(log, "utf8").trim().split("\n")) counts.set(line, (counts.get(line) ?? 0) + 1);
    assert.equal(counts.size, 60);
    assert.deepEqual([...counts.entries()].filter(([, n]) => n > 1), []);
  });
});

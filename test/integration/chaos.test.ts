/**
 * Chaos: while durable tasks and a steady stream of exec and broadcast calls run, SIGKILL and
 * restart the coordinator, a worker and nats-server, and freeze a worker (SIGSTOP/SIGCONT), in
 * rounds. Afterwards: every accepted task ended exactly once (one succeeded attempt), no task ran
 * more often than it was attempted, every call returned a result or a clear error within its
 * bound, no broadcast silently missed a node, SQLite passes integrity_check, every node is back
 * online and no task process is left. CI runs a short form (CHAOS_TASKS=300, CHAOS_ROUNDS=4);
 * `npm run test:chaos` runs 2,000 tasks and 12 rounds. Figures go to test-artifacts/chaos.json.
 */
import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { TaskView } from "../../src/protocol/api.js";
import { freePort } from "../../src/util/net.js";
import { spawnCli, TestFleet, waitFor, writeArtifact } from "../helpers/fleet.js";

const TASKS = Number(process.env.CHAOS_TASKS ?? 300);
const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 4);
const WORKERS = ["c1", "c2", "c3"];
const CALL_TIMEOUT_MS = 5000;
/** A call must end by then: its timeout, the coordinator's reply grace, and the client's HTTP grace. */
const CALL_BOUND_MS = CALL_TIMEOUT_MS + 3000 + 10_000 + 2000;

describe("chaos: kill and freeze everything while work runs", { timeout: 900_000 }, () => {
  let fleet: TestFleet;
  let url = "";
  let coordinator: ChildProcess | undefined;
  const workers = new Map<string, ChildProcess>();
  const log = (): string => join(fleet.dir, "runs.log");
  const faults = { kill_coordinator: 0, kill_worker: 0, kill_nats: 0, freeze_worker: 0 };
  const calls = { exec: 0, broadcast: 0, ok: 0, clear_errors: 0, slowest_ms: 0, missing_nodes: 0 };

  const startCoordinator = async (): Promise<void> => {
    coordinator = await fleet.spawnCoordinator(url, join(fleet.dir, "coordinator.yaml"));
  };
  const startWorker = (id: string): void => {
    workers.set(id, spawnCli(["worker", "-c", join(fleet.dir, `worker-${id}.yaml`), "--node-id", id]));
  };
  const allOnline = async (): Promise<boolean> => {
    try {
      const nodes = await fleet.client.nodes();
      return WORKERS.every((id) => nodes.find((n) => n.id === id)?.status === "online");
    } catch {
      return false;
    }
  };

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fleet = new TestFleet({ coordinator: { port, auto_approve: true, heartbeat_timeout: 2, heartbeat_check_interval: 0.2 }, communication: { coordinator_url: url }, log: { level: "warn" } });
    await fleet.startNats();
    fleet.configFile("coordinator");
    await startCoordinator();
    for (const id of WORKERS) {
      fleet.configFile(`worker-${id}`, { worker: { state_dir: join(fleet.dir, "workers", id), heartbeat_interval: 0.3, max_concurrent_tasks: 4, labels: { pool: "chaos" } } });
      startWorker(id);
    }
    await waitFor("workers online", allOnline, 60_000, 200);
  });
  after(async () => {
    for (const child of [...workers.values(), coordinator]) if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await fleet.close();
  });

  test(`${TASKS} tasks, exec and broadcast traffic, ${ROUNDS} rounds of faults: nothing lost, nothing twice`, async () => {
    const submitted: TaskView[] = [];
    for (let i = 0; i < TASKS; i += 250) {
      const count = Math.min(250, TASKS - i);
      submitted.push(...(await fleet.client.submitTasks(Array.from({ length: count }, (_, k) => ({ command: `echo job-${i + k} >> ${log()}; sleep 0.1 # chaos-marker`, labels: { pool: "chaos" }, max_retries: 10 })))));
    }
    // Steady traffic until the faults are over.
    let stop = false;
    const traffic = (async () => {
      let n = 0;
      while (!stop) {
        n += 1;
        const started = Date.now();
        try {
          if (n % 5 === 0) {
            calls.broadcast += 1;
            const outcome = await fleet.client.broadcast("true", { pool: "chaos" }, CALL_TIMEOUT_MS);
            // Every node is accounted for: ok, error, timeout or offline — never missing.
            const seen = new Set(outcome.results.map((r) => r.node_id));
            calls.missing_nodes += WORKERS.filter((id) => !seen.has(id)).length;
          } else {
            calls.exec += 1;
            await fleet.client.exec(WORKERS[n % WORKERS.length] as string, "true", CALL_TIMEOUT_MS);
          }
          calls.ok += 1;
        } catch (error) {
          // A clear error (unreachable, offline, timeout, unavailable) is an answer too.
          assert.ok((error as { code?: string }).code, `unclear error: ${(error as Error).message}`);
          calls.clear_errors += 1;
        }
        calls.slowest_ms = Math.max(calls.slowest_ms, Date.now() - started);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    for (let round = 0; round < ROUNDS; round += 1) {
      const victim = WORKERS[round % WORKERS.length] as string;
      switch (round % 4) {
        case 0:
          coordinator?.kill("SIGKILL");
          faults.kill_coordinator += 1;
          await pause(300);
          await startCoordinator();
          break;
        case 1:
          workers.get(victim)?.kill("SIGKILL");
          faults.kill_worker += 1;
          await pause(500);
          startWorker(victim);
          break;
        case 2: {
          const port = fleet.nats.port;
          await fleet.nats.kill();
          faults.kill_nats += 1;
          await pause(700);
          await fleet.startNats(port);
          break;
        }
        case 3:
          workers.get(victim)?.kill("SIGSTOP");
          faults.freeze_worker += 1;
          await pause(3000);
          workers.get(victim)?.kill("SIGCONT");
          break;
      }
      await pause(1500);
    }
    stop = true;
    await traffic;

    // Every task ends; the fleet converges.
    const ids = submitted.map((t) => t.id);
    const final = await waitFor(
      "every task final",
      async () => {
        const states = new Map<string, string>();
        let before: number | null | undefined;
        do {
          const next = await fleet.client.tasks({ limit: 1000, ...(before ? { before } : {}) }).catch(() => undefined);
          if (!next) return undefined;
          for (const task of next.tasks) states.set(task.id, task.state);
          before = next.next_before;
        } while (before);
        return ids.every((id) => ["succeeded", "failed", "timed_out", "cancelled", "lost"].includes(states.get(id) ?? "")) ? states : undefined;
      },
      240_000,
      1000,
    );
    await waitFor("every node online again", allOnline, 60_000, 200);

    const runs = new Map<string, number>();
    for (const line of existsSync(log()) ? readFileSync(log(), "utf8").trim().split("\n") : []) runs.set(line, (runs.get(line) ?? 0) + 1);
    let duplicateCompletions = 0;
    let reruns = 0;
    for (const [i, id] of ids.entries()) {
      assert.equal(final.get(id), "succeeded", `task ${id}`);
      const task = await fleet.client.task(id);
      const succeeded = (task.attempts ?? []).filter((a) => a.state === "succeeded").length;
      if (succeeded !== 1) duplicateCompletions += 1;
      const started = (task.attempts ?? []).filter((a) => a.state !== "rejected").length;
      const ran = runs.get(`job-${i}`) ?? 0;
      assert.ok(ran >= 1 && ran <= started, `job-${i} ran ${ran} times in ${started} attempt(s)`);
      reruns += ran - 1;
    }
    assert.equal(duplicateCompletions, 0);
    assert.equal(calls.missing_nodes, 0, "a broadcast left a node out");
    assert.ok(calls.slowest_ms <= CALL_BOUND_MS, `a call took ${calls.slowest_ms} ms`);
    // SQLite is intact (read beside the running coordinator: WAL allows it).
    const db = new Database(join(fleet.dir, "cluster.db"), { readonly: true });
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
    // No task process outlived its attempt.
    await waitFor("no task process left", () => spawnSync("pgrep", ["-f", "chaos-marker"]).status === 1, 10_000);
    const figures = { tasks_accepted: TASKS, faults, calls, results_lost: 0, completions_recorded_twice: duplicateCompletions, reruns_after_lost_attempts: reruns, integrity_check: "ok" };
    writeArtifact("chaos.json", figures);
    console.log(`[chaos] ${JSON.stringify(figures)}`);
  });
});

/**
 * Disk trouble (root only: it mounts a small tmpfs for the coordinator's database and state):
 * a full disk and a read-only filesystem give clear 503 errors on the API and lines in the log,
 * never a crash or corrupt data, and the coordinator recovers by itself when space returns.
 */
import assert from "node:assert/strict";
import { execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import type { ClientError } from "../../src/client/client.js";
import { freePort } from "../../src/util/net.js";
import { runCli, spawnCli, TestFleet, waitFor } from "../helpers/fleet.js";

function unavailable(): string | undefined {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs (CI runs as root)";
  return undefined;
}
const SKIP = unavailable();
if (SKIP) console.log(`\n[disk] SKIPPED — ${SKIP}\n`);

describe("disk trouble: full and read-only", { skip: SKIP, timeout: 120_000 }, () => {
  let fleet: TestFleet;
  let mount = "";
  let url = "";
  let coordinator: ChildProcess;
  let worker: ChildProcess;
  const log = (): string => readFileSync(join(fleet.dir, "logs", "coordinator.log"), "utf8");
  const fill = (): void => {
    // Write until the filesystem says no.
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${join(mount, "filler")}`, "bs=16k"], { stdio: "ignore" });
    } catch {
      // dd fails with "No space left on device": that is the point
    }
  };

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fleet = new TestFleet({ coordinator: { port, auto_approve: true, heartbeat_timeout: 10, heartbeat_check_interval: 0.5 }, communication: { coordinator_url: url }, log: { level: "info" } });
    mount = join(fleet.dir, "small-disk");
    mkdirSync(mount);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mount]);
    await fleet.startNats();
    const file = fleet.configFile("coordinator");
    // Database and state on the small disk; logs elsewhere (to read what it said).
    writeFileSync(file, readFileSync(file, "utf8").replace(/path: .*cluster\.db/, `path: ${join(mount, "cluster.db")}`));
    coordinator = await fleet.spawnCoordinator(url, file);
    worker = spawnCli(["worker", "-c", fleet.configFile("worker", { worker: { state_dir: join(fleet.dir, "w"), heartbeat_interval: 0.3 } }), "--node-id", "disky"]);
    await waitFor("worker online", async () => (await fleet.client.nodes()).some((n) => n.id === "disky" && n.status === "online"), 30_000, 200);
  });
  after(async () => {
    coordinator?.kill("SIGKILL");
    worker?.kill("SIGKILL");
    try {
      execFileSync("umount", ["-l", mount]);
    } catch {
      // already unmounted
    }
    await fleet.close();
  });

  test("a full disk: clear 503s, a line in the log, no crash; space back → it works again, data intact", async () => {
    const before = await fleet.client.submitTask({ command: "echo before", node: "disky" });
    fill();
    // Enough writes to exhaust whatever SQLite had in hand.
    let refusal: ClientError | undefined;
    for (let i = 0; i < 50 && !refusal; i += 1) {
      try {
        await fleet.client.submitTasks(Array.from({ length: 200 }, () => ({ command: "echo x".repeat(50), labels: { never: "placed" } })));
      } catch (error) {
        refusal = error as ClientError;
      }
    }
    assert.ok(refusal, "the full disk was noticed");
    assert.equal(refusal.code, "unavailable");
    assert.equal(refusal.status, 503);
    assert.match(refusal.message, /the coordinator's disk is full: nothing was changed/);
    // The log is written asynchronously (pino): the line may land just after the answer.
    await waitFor("the log says the disk is full", () => /disk is full/.test(log()), 5000);
    assert.equal(coordinator.exitCode, null, "still running");
    // Reads and commands still work.
    assert.equal((await fleet.client.exec("disky", "echo still", 10_000)).stdout, "still\n");
    rmSync(join(mount, "filler"));
    const after = await waitFor("writes work again", async () => {
      try {
        return await fleet.client.submitTask({ command: "echo after", node: "disky" });
      } catch {
        return undefined;
      }
    }, 20_000, 250);
    const done = await waitFor("both tasks done", async () => {
      const [a, b] = await Promise.all([fleet.client.task(before.id), fleet.client.task(after.id)]);
      return a.state === "succeeded" && b.state === "succeeded" ? [a, b] : undefined;
    }, 30_000, 250);
    assert.equal(done.length, 2);
    const db = new Database(join(mount, "cluster.db"), { readonly: true });
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
  });

  test("a read-only database: a coordinator refuses to start with a clear message (no crash); data intact", async () => {
    coordinator.kill("SIGTERM");
    await waitFor("coordinator stopped", () => coordinator.exitCode !== null || coordinator.signalCode !== null, 20_000);
    const readOnly = join(fleet.dir, "read-only");
    mkdirSync(readOnly);
    execFileSync("mount", ["--bind", mount, readOnly]);
    execFileSync("mount", ["-o", "remount,bind,ro", readOnly]);
    try {
      const file = fleet.configFile("coordinator-ro");
      writeFileSync(file, readFileSync(file, "utf8").replace(/path: .*cluster\.db/, `path: ${join(readOnly, "cluster.db")}`));
      const run = await runCli(["coordinator", "-c", file], { timeoutMs: 30_000 });
      assert.equal(run.code, 1, `exit ${run.code}: ${run.stderr}`);
      assert.match(run.stderr, /the database .*cluster\.db is not writable \(EROFS\): mount its disk read-write/);
    } finally {
      execFileSync("umount", [readOnly]);
    }
    const db = new Database(join(mount, "cluster.db"), { readonly: true });
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
  });
});

import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TestFleet, waitFor } from "../helpers/fleet.js";

describe("broadcast", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    for (const [id, role] of [["web-1", "web"], ["web-2", "web"], ["db-1", "db"]] as const) {
      const workdir = join(fleet.dir, "work", id);
      mkdirSync(workdir, { recursive: true });
      await fleet.addApprovedWorker(id, { workdir, labels: { role } });
    }
    // db-1 is the slow one: its working directory holds a marker file.
    writeFileSync(join(fleet.dir, "work", "db-1", "slow"), "");
  });
  after(() => fleet.close());

  test("every online node answers, with per-node output", async () => {
    const outcome = await fleet.client.broadcast("echo up; pwd");
    assert.equal(outcome.summary.total, 3);
    assert.equal(outcome.summary.ok, 3);
    assert.deepEqual(outcome.results.map((r) => r.node_id), ["db-1", "web-1", "web-2"]);
    for (const result of outcome.results) {
      assert.equal(result.status, "ok");
      assert.equal(result.stdout, `up\n${join(fleet.dir, "work", result.node_id)}\n`);
    }
  });

  test("a label selector limits the targets", async () => {
    const outcome = await fleet.client.broadcast("echo web", { role: "web" });
    assert.deepEqual(outcome.results.map((r) => r.node_id), ["web-1", "web-2"]);
    assert.equal(outcome.summary.ok, 2);
    const none = await fleet.client.broadcast("echo x", { role: "nothing" });
    assert.equal(none.summary.total, 0);
  });

  test("non-zero exits are errors with their exit code", async () => {
    const outcome = await fleet.client.broadcast("test -f slow");
    const byId = Object.fromEntries(outcome.results.map((r) => [r.node_id, r]));
    assert.equal(byId["db-1"]?.status, "ok");
    assert.equal(byId["web-1"]?.status, "error");
    assert.equal(byId["web-1"]?.exit_code, 1);
    assert.equal(outcome.summary.error, 2);
  });

  test("one stopped (offline) and one slow (timeout): nobody missing", async () => {
    await fleet.stopWorker("web-2");
    await waitFor("web-2 offline", async () => (await fleet.client.node("web-2")).status === "offline", 8000);
    const started = Date.now();
    const outcome = await fleet.client.broadcast("if [ -f slow ]; then sleep 30; fi; echo fast", {}, 1000);
    const elapsed = Date.now() - started;
    const byId = Object.fromEntries(outcome.results.map((r) => [r.node_id, r]));
    assert.equal(outcome.results.length, 3);
    assert.equal(byId["web-1"]?.status, "ok");
    assert.equal(byId["web-1"]?.stdout, "fast\n");
    assert.equal(byId["web-2"]?.status, "offline");
    assert.equal(byId["db-1"]?.status, "timeout");
    assert.deepEqual({ ok: outcome.summary.ok, timeout: outcome.summary.timeout, offline: outcome.summary.offline, error: outcome.summary.error }, { ok: 1, timeout: 1, offline: 1, error: 0 });
    assert.ok(elapsed < 8000, `broadcast took ${elapsed} ms`);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TestFleet, waitFor } from "../helpers/fleet.js";

describe("liveness", () => {
  const fleet = new TestFleet({ coordinator: { heartbeat_timeout: 1, heartbeat_check_interval: 0.2 }, worker: { heartbeat_interval: 0.2 } });
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("heartbeat silence marks a node offline within timeout + check interval; the next beat brings it back", async () => {
    await fleet.addApprovedWorker("pi");
    const seen1 = (await fleet.client.node("pi")).last_seen;
    await new Promise((r) => setTimeout(r, 500));
    const seen2 = (await fleet.client.node("pi")).last_seen;
    assert.ok(seen1 && seen2 && Date.parse(seen2) > Date.parse(seen1), "heartbeats advance last_seen");
    assert.equal((await fleet.client.node("pi")).status, "online");

    const stoppedAt = Date.now();
    await fleet.stopWorker("pi");
    await waitFor("pi offline", async () => (await fleet.client.node("pi")).status === "offline", 5000, 20);
    const detection = Date.now() - stoppedAt;
    // Silence counts from the last heartbeat, which may have left up to one interval (0.2 s) before the stop.
    assert.ok(detection >= 1000 - 200 - 50, `marked offline too early (${detection} ms)`);
    // timeout (1 s) + check interval (0.2 s) + one heartbeat interval (0.2 s), plus scheduling slack for a loaded CI machine.
    assert.ok(detection <= 1000 + 200 + 200 + 1000, `offline detection took ${detection} ms`);
    const health = await fleet.client.health();
    assert.equal(health.nodes.offline, 1);

    await fleet.startWorker("pi");
    await waitFor("pi online again", async () => (await fleet.client.node("pi")).status === "online", 5000);
    assert.equal((await fleet.client.exec("pi", "echo back")).stdout, "back\n");
  });

  test("load figures arrive with heartbeats", async () => {
    await fleet.addApprovedWorker("loadie");
    const node = await waitFor("load", async () => {
      const n = await fleet.client.node("loadie");
      return n.load.memory !== null ? n : undefined;
    });
    assert.ok(node.load.memory !== null && node.load.memory > 0 && node.load.memory <= 100);
    assert.ok(node.load.disk !== null && node.load.disk >= 0 && node.load.disk <= 100);
    assert.equal(node.load.running_tasks, 0);
    assert.equal(node.load.max_concurrent_tasks, 5);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { errors } from "@nats-io/transport-node";
import { ClientError } from "../../src/client/client.js";
import { encodeMessage } from "../../src/protocol/codec.js";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { TestFleet, waitFor } from "../helpers/fleet.js";

/** A request on `subject` finds nobody listening. */
async function assertNoResponder(fleet: TestFleet, subject: string): Promise<void> {
  const nc = await fleet.connectAdmin();
  try {
    await assert.rejects(
      nc.request(subject, encodeMessage({ v: PROTOCOL_VERSION, id: "x1", command: "touch /tmp/ocf-should-not-exist", timeout_ms: 1000, max_output_bytes: 100 }), { timeout: 3000 }),
      (error: Error) => error instanceof errors.RequestError && error.isNoResponders(),
    );
  } finally {
    await nc.close();
  }
}

async function expectClientError(promise: Promise<unknown>, code: string, status?: number): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected ClientError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (status !== undefined) assert.equal(error.status, status);
    return error;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

describe("pairing over a real nats-server", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("join → pending → approve → exec", async () => {
    const worker = await fleet.startWorker("alpha", { labels: { role: "web" } });
    const request = await waitFor("pending request", async () => (await fleet.client.pending()).find((r) => r.node_id === "alpha"));
    assert.match(request.request_id, /^[0-9a-f]{8}$/);
    assert.equal(request.status, "pending");
    assert.equal(worker.state, "pending");
    assert.deepEqual(request.labels, { role: "web" });
    assert.ok(request.public_key.startsWith("U"));
    // Not approved yet: not in the node list, exec refused.
    assert.equal((await fleet.client.nodes()).some((n) => n.id === "alpha"), false);
    await expectClientError(fleet.client.exec("alpha", "true"), "node_not_found", 404);

    const approved = await fleet.client.approve(request.request_id);
    assert.equal(approved.request.status, "approved");
    await waitFor("worker approved", () => worker.state === "approved");
    const node = await waitFor("online", async () => {
      const n = await fleet.client.node("alpha");
      return n.status === "online" && n.load.cpu !== null ? n : undefined;
    });
    assert.equal(node.name, "alpha");
    assert.deepEqual(node.capabilities, ["shell.exec"]);
    assert.equal(node.load.max_concurrent_tasks, 5);
    assert.ok(node.approved_at);
    const result = await fleet.client.exec("alpha", "echo hello from alpha");
    assert.equal(result.status, "ok");
    assert.equal(result.exit_code, 0);
    assert.equal(result.stdout, "hello from alpha\n");
    assert.equal((await fleet.client.pending()).some((r) => r.node_id === "alpha"), false);
  });

  test("approve by node id, and approving twice is a conflict", async () => {
    const worker = await fleet.startWorker("bravo");
    await waitFor("pending", async () => (await fleet.client.pending()).some((r) => r.node_id === "bravo"));
    const approved = await fleet.client.approve("bravo");
    await waitFor("approved", () => worker.state === "approved");
    await expectClientError(fleet.client.approve(approved.request.request_id), "conflict", 409);
  });

  test("reject: the node never runs anything and its key stays refused", async () => {
    const worker = await fleet.startWorker("charlie");
    const request = await waitFor("pending", async () => (await fleet.client.pending()).find((r) => r.node_id === "charlie"));
    await fleet.client.reject(request.request_id, "not ours");
    await waitFor("worker told", () => worker.state === "rejected");
    assert.equal((await fleet.client.pending()).some((r) => r.node_id === "charlie"), false);
    await expectClientError(fleet.client.exec("charlie", "true"), "node_not_found", 404);
    // The rejected worker does not even listen for work: a direct NATS request finds no responder.
    await assertNoResponder(fleet, "ocf.node.charlie.exec");
    // Restarting the worker with the same identity: still rejected.
    await fleet.stopWorker("charlie");
    const again = await fleet.startWorker("charlie");
    await waitFor("still rejected", () => again.state === "rejected");
  });

  test("remove: exec refused, the worker stops acting, its key is refused", async () => {
    const worker = await fleet.addApprovedWorker("delta");
    assert.equal((await fleet.client.exec("delta", "true")).exit_code, 0);
    const removed = await fleet.client.removeNode("delta");
    assert.equal(removed.id, "delta");
    await expectClientError(fleet.client.exec("delta", "true"), "node_not_found", 404);
    await waitFor("worker knows it was removed", () => worker.state === "removed");
    await assertNoResponder(fleet, "ocf.node.delta.exec");
    // It asks again on restart and is told it is rejected (not pending).
    await fleet.stopWorker("delta");
    const again = await fleet.startWorker("delta");
    await waitFor("rejected after removal", () => again.state === "rejected");
    assert.equal((await fleet.client.pending()).some((r) => r.node_id === "delta"), false);
  });

  test("a join for an approved node id signed by another key is refused", async () => {
    await fleet.addApprovedWorker("echo");
    const before = await fleet.client.node("echo");
    // Same node id "echo", a different identity (its own state dir, so a new key).
    const impostor = await fleet.startWorker("echo", { stateDir: `${fleet.dir}/impostor` });
    await new Promise((r) => setTimeout(r, 1000));
    assert.notEqual(impostor.state, "approved");
    const after = await fleet.client.node("echo");
    assert.equal(after.approved_at, before.approved_at);
    assert.equal((await fleet.client.pending()).some((r) => r.node_id === "echo"), false, "the impostor must not even become pending");
    // The real node is still the approved one and still runs commands.
    assert.equal((await fleet.client.exec("echo", "echo real")).stdout, "real\n");
    await impostor.stop();
  });

  test("a pending worker keeps waiting across its own restarts, with the same request id", async () => {
    await fleet.startWorker("patient");
    const first = await waitFor("pending", async () => (await fleet.client.pending()).find((r) => r.node_id === "patient"));
    await fleet.stopWorker("patient");
    const again = await fleet.startWorker("patient");
    await waitFor("pending again", () => again.state === "pending");
    const pending = (await fleet.client.pending()).filter((r) => r.node_id === "patient");
    assert.deepEqual(pending.map((r) => r.request_id), [first.request_id]);
    await fleet.client.approve(first.request_id);
    await waitFor("approved after restart", () => again.state === "approved");
  });

  test("unknown request id → 404", async () => {
    await expectClientError(fleet.client.approve("ffffffff"), "not_found", 404);
    await expectClientError(fleet.client.reject("nope"), "not_found", 404);
    await expectClientError(fleet.client.removeNode("nope"), "node_not_found", 404);
  });
});

describe("auto-approve", () => {
  const fleet = new TestFleet({ coordinator: { auto_approve: true } });
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("coordinator.auto_approve approves on arrival", async () => {
    const worker = await fleet.startWorker("auto-1");
    await waitFor("approved", () => worker.state === "approved");
    const node = await waitFor("online", async () => ((await fleet.client.node("auto-1")).status === "online" ? true : undefined));
    assert.equal(node, true);
    assert.equal((await fleet.client.pending()).length, 0);
  });
});

describe("coordinator restart", () => {
  const fleet = new TestFleet({ coordinator: { heartbeat_timeout: 3, heartbeat_check_interval: 0.2 } });
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("keeps approved nodes and does not flap them offline", async () => {
    await fleet.addApprovedWorker("stay-1");
    await fleet.addApprovedWorker("stay-2");
    await fleet.coordinator?.stop();
    // Down for longer than the heartbeat timeout: last_seen is now old.
    await new Promise((r) => setTimeout(r, 3500));
    await fleet.startCoordinator();
    const statuses: string[] = [];
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      for (const node of await fleet.client.nodes()) statuses.push(`${node.id}:${node.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(statuses.length > 0);
    assert.deepEqual(statuses.filter((s) => s.endsWith(":offline")), [], "a node was shown offline after the restart");
    assert.equal((await fleet.client.exec("stay-1", "echo back")).stdout, "back\n");
  });

  test("a node that stopped while the coordinator was down goes offline after the timeout", async () => {
    await fleet.coordinator?.stop();
    await fleet.stopWorker("stay-2");
    await fleet.startCoordinator();
    assert.equal((await fleet.client.node("stay-2")).status, "online", "grace: still online right after restart");
    await waitFor("stay-2 offline", async () => (await fleet.client.node("stay-2")).status === "offline", 8000);
    assert.equal((await fleet.client.node("stay-1")).status, "online");
  });
});

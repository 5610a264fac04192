/**
 * Broadcast collection in the Dispatcher, without NATS: results are handed to onBroadcastResult as
 * the coordinator's subscription to every node's result subject would. The sender is the node in
 * the subject; a body naming another node is a forgery; unknown broadcasts, untargeted nodes and
 * repeats are dropped (unread when no waiting broadcast expects the node); every targeted node
 * appears exactly once.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Dispatcher, type Forgery } from "../../src/coordinator/dispatch.js";
import { Registry } from "../../src/coordinator/registry.js";
import { encodeMessage } from "../../src/protocol/codec.js";
import type { NodeExecResult } from "../../src/protocol/api.js";
import { PROTOCOL_VERSION, type BroadcastRequest } from "../../src/protocol/messages.js";
import { subjects } from "../../src/protocol/subjects.js";
import { openDatabase } from "../../src/storage/database.js";
import { NodeRepository, type NodeRecord } from "../../src/storage/nodes.js";
import type { NatsConnection } from "../../src/transport/connection.js";
import { silentLogger } from "../../src/util/logger.js";

const s = subjects();

const record = (id: string, labels: Record<string, string> = {}): NodeRecord => ({
  id, name: id, public_key: `U${id}`, hostname: id, os: "linux", arch: "x64", ips: [], labels, capabilities: ["shell.exec"], version: "0.1.0",
  max_concurrent_tasks: 5, approved_at: 0, last_seen: null, load: null, status: "offline",
});

const result = (id: string, nodeId: string, stdout = `${nodeId}\n`): Uint8Array =>
  encodeMessage({ v: PROTOCOL_VERSION, id, node_id: nodeId, status: "ok", exit_code: 0, signal: null, stdout, stderr: "", duration_ms: 1, truncated: false });

/** A dispatcher over `online` online nodes (and `offline` offline ones); `onPublish` sees each broadcast request. */
function setup(online: string[], offline: string[] = [], onPublish: (request: BroadcastRequest, subject: string, reply: unknown) => void = () => undefined) {
  const registry = new Registry(new NodeRepository(openDatabase(":memory:")), { heartbeatTimeoutMs: 60_000 });
  for (const id of [...online, ...offline]) registry.add(record(id, { pool: "t" }));
  for (const id of online) registry.beat({ v: 1, node_id: id, ts: Date.now(), seq: 0, load: { cpu: 0, memory: 0, disk: 0, running_tasks: 0, max_concurrent_tasks: 5 } });
  const forgeries: Forgery[] = [];
  const dropped: string[] = [];
  const nc = {
    isClosed: () => false,
    info: { max_payload: 1024 * 1024 },
    publish: (subject: string, data: Uint8Array, options?: { reply?: string }) => {
      // Answer after the publish returns, as results come back over the network.
      setImmediate(() => onPublish(JSON.parse(new TextDecoder().decode(data)) as BroadcastRequest, subject, options?.reply));
    },
  } as unknown as NatsConnection;
  const dispatcher = new Dispatcher({ nc: () => nc, subjects: s, registry, maxOutputBytes: 1024, logger: silentLogger(), onForgery: (forgery) => forgeries.push(forgery), onDropped: (reason) => dropped.push(reason) });
  return { dispatcher, forgeries, dropped };
}

const deliver = (dispatcher: Dispatcher, subject: string, data: Uint8Array): void => dispatcher.onBroadcastResult({ subject, data });

describe("broadcast results", () => {
  test("the sender is the node in the subject: a result naming another node is a forgery, refused and reported", async () => {
    let reply: unknown = "unset";
    const { dispatcher, forgeries } = setup(["vm", "evil"], [], (request, subject, replySubject) => {
      assert.equal(subject, "ocf.bcast.exec");
      reply = replySubject;
      // evil answers first, claiming to be vm, on its own subject; then both answer honestly.
      deliver(dispatcher, s.broadcastResult("evil"), result(request.id, "vm", "forged\n"));
      deliver(dispatcher, s.broadcastResult("vm"), result(request.id, "vm", "real\n"));
      deliver(dispatcher, s.broadcastResult("evil"), result(request.id, "evil"));
    });
    const outcome = await dispatcher.broadcast("echo", {}, 5000);
    assert.equal(reply, undefined, "the broadcast carries no reply subject anyone could answer on");
    assert.deepEqual(outcome.results.map((r) => [r.node_id, r.status, r.stdout]), [["evil", "ok", "evil\n"], ["vm", "ok", "real\n"]]);
    assert.deepEqual(forgeries, [{ node_id: "evil", claimed: "vm", kind: "broadcast", broadcast_id: outcome.id }]);
  });

  test("unknown broadcasts, untargeted nodes, repeats and garbage are dropped; each target appears once", async () => {
    const seen: NodeExecResult[] = [];
    const { dispatcher, forgeries } = setup(["a", "b", "c"], ["gone"], (request) => {
      deliver(dispatcher, s.broadcastResult("a"), result("another-broadcast", "a"));
      deliver(dispatcher, s.broadcastResult("stranger"), result(request.id, "stranger"));
      deliver(dispatcher, s.broadcastResult("a"), new TextEncoder().encode("{not json"));
      deliver(dispatcher, s.broadcastResult("a"), encodeMessage({ v: PROTOCOL_VERSION, id: request.id, node_id: "a" }));
      deliver(dispatcher, "ocf.node.*.bres", result(request.id, "b"));
      deliver(dispatcher, "ocf.somewhere.else", result(request.id, "b"));
      deliver(dispatcher, s.broadcastResult("a"), result(request.id, "a", "first\n"));
      deliver(dispatcher, s.broadcastResult("a"), result(request.id, "a", "second\n"));
      deliver(dispatcher, s.broadcastResult("b"), result(request.id, "b"));
      // c never answers.
    });
    const started = Date.now();
    const outcome = await dispatcher.broadcast("echo", {}, 200, (r) => seen.push(r));
    assert.ok(Date.now() - started >= 200, "c is waited for until the deadline");
    assert.deepEqual(outcome.results.map((r) => [r.node_id, r.status]), [["a", "ok"], ["b", "ok"], ["c", "timeout"], ["gone", "offline"]]);
    assert.equal(outcome.results[0]?.stdout, "first\n", "a repeat does not replace the first result");
    assert.deepEqual(seen.map((r) => r.node_id).sort(), ["a", "b", "c", "gone"], "onResult sees each node once");
    assert.deepEqual(forgeries, []);
    // After the broadcast, its results are dropped (nothing waits for them any more).
    deliver(dispatcher, s.broadcastResult("c"), result(outcome.id, "c"));
    assert.equal(seen.length, 4);
  });

  test("a result from a node no waiting broadcast expects is dropped unread, forged or not; a forgery while one waits is reported, its quoted id cut", async () => {
    let answer = (): void => undefined;
    const { dispatcher, forgeries, dropped } = setup(["vm", "evil"], [], (request) => {
      answer = () => {
        deliver(dispatcher, s.broadcastResult("vm"), result(request.id, "vm"));
        deliver(dispatcher, s.broadcastResult("evil"), result(request.id, "evil"));
      };
      deliver(dispatcher, s.broadcastResult("evil"), result("x".repeat(10_000), "vm"));
      answer();
    });
    // Nothing waits: not even decoded (a megabyte of garbage costs a look at the waiting broadcasts).
    deliver(dispatcher, s.broadcastResult("evil"), result("x".repeat(10_000), "vm"));
    deliver(dispatcher, s.broadcastResult("evil"), new TextEncoder().encode("{not json".repeat(100_000)));
    assert.equal(forgeries.length, 0);
    assert.deepEqual(dropped, ["broadcast_result_unexpected", "broadcast_result_unexpected"]);
    const outcome = await dispatcher.broadcast("echo", {}, 5000);
    assert.equal(outcome.summary.ok, 2);
    assert.equal(forgeries.length, 1);
    assert.equal(forgeries[0]?.broadcast_id?.length, 64);
    // Once answered, a node's further results are dropped unread too.
    deliver(dispatcher, s.broadcastResult("evil"), result(outcome.id, "vm"));
    assert.equal(forgeries.length, 1);
  });

  test("an onResult that throws ends the broadcast with its error", async () => {
    const { dispatcher } = setup(["a", "b"], [], (request) => {
      deliver(dispatcher, s.broadcastResult("a"), result(request.id, "a"));
      deliver(dispatcher, s.broadcastResult("b"), result(request.id, "b"));
    });
    await assert.rejects(
      dispatcher.broadcast("echo", {}, 5000, () => {
        throw new Error("the stream is gone");
      }),
      /the stream is gone/,
    );
  });

  test("10,000 nodes: every result is taken, the broadcast ends as the last one arrives", async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => `n-${i}`);
    const { dispatcher } = setup(ids, [], (request) => {
      for (const id of ids) deliver(dispatcher, s.broadcastResult(id), result(request.id, id));
    });
    const started = Date.now();
    const outcome = await dispatcher.broadcast("true", { pool: "t" }, 30_000);
    const ms = Date.now() - started;
    assert.equal(outcome.summary.ok, 10_000);
    assert.equal(outcome.results.length, 10_000);
    assert.ok(ms < 5000, `10,000 results took ${ms} ms`);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeMessage, encodeMessage } from "../../src/protocol/codec.js";
import { ExecResultSchema, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { TestFleet, waitFor } from "../helpers/fleet.js";

describe("worker survives a nats-server restart", () => {
  const fleet = new TestFleet({ worker: { heartbeat_interval: 0.2 } });
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("kill nats-server, start it again on the same port: exec works again", async () => {
    const worker = await fleet.addApprovedWorker("survivor");
    const port = fleet.nats.port;
    await fleet.nats.kill();
    await waitFor("coordinator sees NATS down", async () => !(await fleet.client.health()).nats.connected, 10_000);
    const health = await fleet.client.health();
    assert.equal(health.status, "degraded");
    await assert.rejects(fleet.client.exec("survivor", "true"), /not connected to NATS/);
    await new Promise((r) => setTimeout(r, 1500));
    await fleet.startNats(port);
    await waitFor("coordinator reconnected", async () => (await fleet.client.health()).status === "ok", 20_000, 200);
    const result = await waitFor("exec after restart", async () => {
      const r = await fleet.client.exec("survivor", "echo again");
      return r.stdout === "again\n" ? r : undefined;
    }, 20_000, 250);
    assert.equal(result.exit_code, 0);
    assert.equal(worker.state, "approved");
    assert.equal((await fleet.client.node("survivor")).status, "online");
  });
});

describe("garbage on the wire never crashes anything", () => {
  const fleet = new TestFleet();
  let nc: NatsConnection;
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("target");
    nc = await fleet.connectAdmin();
  });
  after(async () => {
    await nc.close();
    await fleet.close();
  });

  test("junk join requests are dropped unanswered (nobody to answer: none verifies); the coordinator keeps working", async () => {
    const answers: string[] = [];
    const inbox = nc.subscribe("_INBOX.junk.>", {
      callback: (_err, msg) => {
        answers.push(new TextDecoder().decode(msg.data));
      },
    });
    const cases: Array<[string, Uint8Array]> = [
      ["not json", new TextEncoder().encode("{{{")],
      ["wrong version", encodeMessage({ v: 99 })],
      ["missing fields", encodeMessage({ v: PROTOCOL_VERSION })],
      ["bad signature", encodeMessage({ v: PROTOCOL_VERSION, public_key: "UABC", payload: "{}", sig: "AAAA" })],
      ["array", encodeMessage([1, 2, 3])],
      ["too large", new Uint8Array(200 * 1024).fill(0x20)],
    ];
    cases.forEach(([, data], i) => nc.publish("ocf.enroll", data, { reply: `_INBOX.junk.${i}` }));
    await nc.flush();
    await new Promise((r) => setTimeout(r, 500));
    inbox.unsubscribe();
    assert.deepEqual(answers, []);
    assert.equal((await fleet.client.health()).status, "ok");
    assert.equal((await fleet.client.exec("target", "echo fine")).stdout, "fine\n");
  });

  test("junk heartbeats and junk exec requests are refused; the fleet keeps working", async () => {
    nc.publish("ocf.node.target.hb", new TextEncoder().encode("garbage"));
    nc.publish("ocf.node.target.hb", encodeMessage({ v: PROTOCOL_VERSION, node_id: "someone-else", ts: 1, seq: 0, load: { cpu: 1, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 1 } }));
    nc.publish("ocf.node.ghost.hb", encodeMessage({ v: PROTOCOL_VERSION, node_id: "ghost", ts: 1, seq: 0, load: { cpu: 1, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 1 } }));
    nc.publish("ocf.bcast.exec", new TextEncoder().encode("\u0000\u0001"));
    const reply = await nc.request("ocf.node.target.exec", encodeMessage({ v: PROTOCOL_VERSION, id: "j1", command: "", timeout_ms: -5 }), { timeout: 3000 });
    const result = decodeMessage(reply.data, ExecResultSchema);
    assert.equal(result.status, "error");
    assert.equal(result.error?.code, "bad_request");
    assert.match(result.error?.message ?? "", /command|timeout_ms|max_output_bytes/);
    const extra = await nc.request("ocf.node.target.exec", encodeMessage({ v: PROTOCOL_VERSION, id: "j2", command: "true", timeout_ms: 1000, max_output_bytes: 10, rm: "-rf" }), { timeout: 3000 });
    assert.equal(decodeMessage(extra.data, ExecResultSchema).error?.code, "bad_request");
    // The ghost is not a member: it did not appear, and the real node is unaffected.
    assert.deepEqual((await fleet.client.nodes()).map((n) => n.id), ["target"]);
    assert.equal((await fleet.client.exec("target", "echo fine")).stdout, "fine\n");
    assert.equal((await fleet.client.health()).status, "ok");
  });
});

describe("HTTP API input handling and auth", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("web");
  });
  after(() => fleet.close());

  const call = async (path: string, init: RequestInit & { auth?: string | null } = {}) => {
    const headers: Record<string, string> = { ...(init.headers as Record<string, string> | undefined) };
    const auth = init.auth === undefined ? `Bearer ${fleet.token}` : init.auth;
    if (auth !== null) headers.authorization = auth;
    const response = await fetch(`${fleet.coordinator?.url}${path}`, { ...init, headers });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as { error?: { code: string; message: string } } & Record<string, unknown> };
  };
  const json = (body: unknown): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });

  test("/health needs no token; everything else does", async () => {
    const health = await call("/health", { auth: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(typeof health.body.version, "string");
    for (const path of ["/api/v1/nodes", "/api/v1/nodes/web", "/api/v1/pending"]) {
      const missing = await call(path, { auth: null });
      assert.equal(missing.status, 401, path);
      assert.equal(missing.body.error?.code, "unauthorized");
      const wrong = await call(path, { auth: "Bearer ocf_wrong" });
      assert.equal(wrong.status, 401, path);
      const basic = await call(path, { auth: "Basic dXNlcjpwYXNz" });
      assert.equal(basic.status, 401, path);
    }
    const exec = await call("/api/v1/exec", { ...json({ node: "web", command: "touch /tmp/ocf-unauth" }), auth: null });
    assert.equal(exec.status, 401);
    assert.equal((await call("/api/v1/nodes")).status, 200);
  });

  test("bad JSON, unknown fields, wrong types, oversized bodies: clear 4xx errors", async () => {
    const badJson = await call("/api/v1/exec", json("{not json"));
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.error?.code, "bad_request");
    assert.match(badJson.body.error?.message ?? "", /JSON/);
    const unknown = await call("/api/v1/exec", json({ node: "web", command: "true", sudo: true }));
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error?.message ?? "", /sudo/);
    const wrongType = await call("/api/v1/exec", json({ node: "web", command: 42 }));
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.error?.message ?? "", /command/);
    const missing = await call("/api/v1/exec", json({ command: "true" }));
    assert.equal(missing.status, 400);
    assert.match(missing.body.error?.message ?? "", /node/);
    const badTimeout = await call("/api/v1/exec", json({ node: "web", command: "true", timeout_ms: -1 }));
    assert.equal(badTimeout.status, 400);
    const badLabels = await call("/api/v1/broadcast", json({ command: "true", labels: { "bad key!": "x" } }));
    assert.equal(badLabels.status, 400);
    const huge = await call("/api/v1/exec", json({ node: "web", command: "x".repeat(2 * 1024 * 1024) }));
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error?.code, "payload_too_large");
    const array = await call("/api/v1/broadcast", json([1, 2]));
    assert.equal(array.status, 400);
    const textPlain = await call("/api/v1/exec", { method: "POST", headers: { "content-type": "text/plain" }, body: "echo hi" });
    assert.ok(textPlain.status === 400 || textPlain.status === 415, String(textPlain.status));
    const unknownNode = await call("/api/v1/exec", json({ node: "nope", command: "true" }));
    assert.equal(unknownNode.status, 404);
    assert.equal(unknownNode.body.error?.code, "node_not_found");
    const route = await call("/api/v1/nothing");
    assert.equal(route.status, 404);
    // Still alive and well after all of that.
    assert.equal((await fleet.client.exec("web", "echo alive")).stdout, "alive\n");
  });
});

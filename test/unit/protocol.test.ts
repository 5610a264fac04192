import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createAccount, createUser } from "@nats-io/nkeys";
import { decodeMessage, encodeMessage } from "../../src/protocol/codec.js";
import { FleetError } from "../../src/protocol/errors.js";
import { labelsMatch } from "../../src/protocol/labels.js";
import { BroadcastRequestSchema, ExecRequestSchema, ExecResultSchema, HeartbeatSchema, JoinReplySchema, type JoinPayload } from "../../src/protocol/messages.js";
import { signJoinRequest, verifyJoinRequest } from "../../src/protocol/signed-join.js";
import { isValidNodeId, subjects } from "../../src/protocol/subjects.js";
import { SOFTWARE_VERSION } from "../../src/version.js";
import { REPO_ROOT } from "../helpers/fleet.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function fleetError(fn: () => unknown): FleetError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FleetError, String(error));
    return error;
  }
  assert.fail("expected a FleetError");
}

test("subject names", () => {
  const s = subjects();
  assert.equal(s.enroll(), "ocf.enroll");
  assert.equal(s.heartbeat("home-server"), "ocf.node.home-server.hb");
  assert.equal(s.heartbeatAll(), "ocf.node.*.hb");
  assert.equal(s.exec("home-server"), "ocf.node.home-server.exec");
  assert.equal(s.control("pi"), "ocf.node.pi.ctl");
  assert.equal(s.broadcast("exec"), "ocf.bcast.exec");
  assert.equal(s.event("node.status"), "ocf.evt.node.status");
  assert.equal(s.nodeIdOf("ocf.node.pi.hb"), "pi");
  assert.equal(s.nodeIdOf("ocf.node.PI.hb"), undefined);
  assert.equal(s.nodeIdOf("other.node.pi.hb"), undefined);
  assert.equal(subjects("fleet2").exec("a"), "fleet2.node.a.exec");
  assert.throws(() => s.exec("bad.id"), /invalid node id/);
  assert.throws(() => s.heartbeat("*"), /invalid node id/);
  assert.throws(() => subjects("a.b"), /invalid subject prefix/);
});

test("node ids", () => {
  assert.ok(isValidNodeId("a"));
  assert.ok(isValidNodeId("worker-macbook"));
  assert.ok(isValidNodeId("0".repeat(63)));
  for (const bad of ["", "a".repeat(64), "Worker", "-a", "a_b", "a.b", "a b", "a>"]) assert.equal(isValidNodeId(bad), false, bad);
});

test("decodeMessage: clear errors for every kind of bad input", () => {
  assert.match(fleetError(() => decodeMessage(bytes("{nope"), ExecRequestSchema)).message, /not valid JSON/);
  assert.equal(fleetError(() => decodeMessage(bytes("[1]"), ExecRequestSchema)).code, "bad_request");
  assert.equal(fleetError(() => decodeMessage(bytes("{}"), ExecRequestSchema)).code, "unsupported_version");
  assert.equal(fleetError(() => decodeMessage(bytes('{"v":2}'), ExecRequestSchema)).code, "unsupported_version");
  const missing = fleetError(() => decodeMessage(bytes('{"v":1,"id":"x","timeout_ms":5,"max_output_bytes":5}'), ExecRequestSchema));
  assert.equal(missing.code, "bad_request");
  assert.match(missing.message, /command/);
  const extra = fleetError(() => decodeMessage(encodeMessage({ v: 1, id: "x", command: "true", timeout_ms: 5, max_output_bytes: 5, sudo: true }), ExecRequestSchema));
  assert.match(extra.message, /sudo/);
});

test("golden messages: the wire format does not drift", () => {
  const golden = {
    exec: '{"v":1,"id":"0b9c","command":"df -h","timeout_ms":30000,"max_output_bytes":1048576}',
    broadcast: '{"v":1,"id":"1","command":"uptime","timeout_ms":1000,"max_output_bytes":1024,"labels":{"site":"home"}}',
    heartbeat: '{"v":1,"node_id":"pi","ts":1763940000000,"seq":7,"load":{"cpu":3.5,"memory":41,"disk":22,"running_tasks":1,"max_concurrent_tasks":5},"labels":{},"capabilities":["shell.exec"]}',
    result: '{"v":1,"id":"0b9c","node_id":"pi","status":"timeout","exit_code":null,"signal":"SIGTERM","stdout":"","stderr":"","duration_ms":1000.5,"truncated":false,"error":{"code":"timeout","message":"killed"}}',
    reply: '{"v":1,"status":"pending","node_id":"pi","request_id":"a9a6125e","message":"waiting"}',
  };
  assert.equal(decodeMessage(bytes(golden.exec), ExecRequestSchema).command, "df -h");
  assert.deepEqual(decodeMessage(bytes(golden.broadcast), BroadcastRequestSchema).labels, { site: "home" });
  assert.equal(decodeMessage(bytes(golden.heartbeat), HeartbeatSchema).load.running_tasks, 1);
  assert.equal(decodeMessage(bytes(golden.result), ExecResultSchema).error?.code, "timeout");
  assert.equal(decodeMessage(bytes(golden.reply), JoinReplySchema).request_id, "a9a6125e");
  // Encoding what we decoded gives the same bytes back.
  assert.equal(new TextDecoder().decode(encodeMessage(decodeMessage(bytes(golden.exec), ExecRequestSchema))), golden.exec);
});

const joinPayload = (nodeId = "pi"): JoinPayload => ({ node_id: nodeId, name: nodeId, hostname: "pi", os: "linux", arch: "arm64", ips: ["100.64.0.2"], labels: { site: "home" }, capabilities: ["shell.exec"], version: "0.1.0", max_concurrent_tasks: 5, ts: 1 });

test("signed join requests: round trip, tampering, foreign signatures, wrong key types", () => {
  const key = createUser();
  const request = signJoinRequest(key, joinPayload());
  assert.equal(request.public_key, key.getPublicKey());
  assert.deepEqual(verifyJoinRequest(request), joinPayload());
  const tampered = { ...request, payload: request.payload.replace('"pi"', '"nas"') };
  assert.match(fleetError(() => verifyJoinRequest(tampered)).message, /signature does not match/);
  const other = signJoinRequest(createUser(), joinPayload());
  assert.match(fleetError(() => verifyJoinRequest({ ...request, sig: other.sig })).message, /signature does not match/);
  const account = createAccount();
  assert.match(fleetError(() => verifyJoinRequest({ ...request, public_key: account.getPublicKey() })).message, /user key/);
  const badPayload = signJoinRequest(key, { ...joinPayload(), node_id: "Bad Id" } as JoinPayload);
  assert.match(fleetError(() => verifyJoinRequest(badPayload)).message, /node_id/);
});

test("label selectors", () => {
  assert.ok(labelsMatch({ site: "home", gpu: "yes" }, {}));
  assert.ok(labelsMatch({ site: "home", gpu: "yes" }, { site: "home" }));
  assert.equal(labelsMatch({ site: "home" }, { site: "home", gpu: "yes" }), false);
  assert.equal(labelsMatch({ site: "office" }, { site: "home" }), false);
});

test("SOFTWARE_VERSION equals package.json's version", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  assert.equal(SOFTWARE_VERSION, pkg.version);
});

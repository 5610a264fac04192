import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { createAccount, createUser } from "@nats-io/nkeys";
import { asErrorReply, decodeMessage, encodeMessage, errorReply } from "../../src/protocol/codec.js";
import { ERROR_CODES, FleetError, HTTP_STATUS } from "../../src/protocol/errors.js";
import { labelsMatch } from "../../src/protocol/labels.js";
import {
  BroadcastRequestSchema,
  ControlSchema,
  ExecRequestSchema,
  ExecResultSchema,
  HeartbeatSchema,
  JoinPayloadSchema,
  JoinReplySchema,
  JoinRequestSchema,
  PROTOCOL_VERSION,
  type BroadcastRequest,
  type Control,
  type ExecRequest,
  type ExecResult,
  type Heartbeat,
  type JoinPayload,
  type JoinReply,
  type JoinRequest,
} from "../../src/protocol/messages.js";
import { signJoinRequest, verifyJoinRequest } from "../../src/protocol/signed-join.js";
import { DEFAULT_SUBJECT_PREFIX, isValidNodeId, subjects } from "../../src/protocol/subjects.js";
import { SOFTWARE_VERSION } from "../../src/version.js";
import { joinPayload } from "../helpers/fixtures.js";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function fleetError(fn: () => unknown): FleetError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FleetError, `expected a FleetError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a FleetError");
}

describe("subjects", () => {
  test("the default prefix builds every subject", () => {
    const s = subjects();
    assert.equal(DEFAULT_SUBJECT_PREFIX, "ocf");
    assert.equal(s.prefix, "ocf");
    assert.equal(s.enroll(), "ocf.enroll");
    assert.equal(s.heartbeat("home-server"), "ocf.node.home-server.hb");
    assert.equal(s.heartbeatAll(), "ocf.node.*.hb");
    assert.equal(s.exec("home-server"), "ocf.node.home-server.exec");
    assert.equal(s.control("pi"), "ocf.node.pi.ctl");
    assert.equal(s.broadcast("exec"), "ocf.bcast.exec");
    assert.equal(s.broadcastResult("home-server"), "ocf.node.home-server.bres");
    assert.equal(s.broadcastResultAll(), "ocf.node.*.bres");
    assert.equal(s.event("node.status"), "ocf.evt.node.status");
  });

  test("a custom prefix", () => {
    const s = subjects("fleet_2-x");
    assert.equal(s.enroll(), "fleet_2-x.enroll");
    assert.equal(s.exec("a"), "fleet_2-x.node.a.exec");
    assert.equal(s.broadcast("exec"), "fleet_2-x.bcast.exec");
    assert.equal(s.broadcastResult("a"), "fleet_2-x.node.a.bres");
    assert.equal(s.broadcastResultAll(), "fleet_2-x.node.*.bres");
  });

  test("invalid node ids are refused (no subject injection)", () => {
    const s = subjects();
    for (const bad of ["bad.id", "*", ">", "", "Pi", "-pi", "a b", "a".repeat(64)]) {
      assert.throws(() => s.exec(bad), /invalid node id/, bad);
      assert.throws(() => s.heartbeat(bad), /invalid node id/, bad);
      assert.throws(() => s.control(bad), /invalid node id/, bad);
      assert.throws(() => s.broadcastResult(bad), /invalid node id/, bad);
    }
  });

  test("invalid prefixes are refused", () => {
    for (const bad of ["a.b", "", "*", ">", "a b", "ocf."]) assert.throws(() => subjects(bad), /invalid subject prefix/, bad);
  });

  test("nodeIdOf extracts the id from per-node subjects only", () => {
    const s = subjects();
    assert.equal(s.nodeIdOf("ocf.node.pi.hb"), "pi");
    assert.equal(s.nodeIdOf("ocf.node.home-server.exec"), "home-server");
    assert.equal(s.nodeIdOf(s.control("n1")), "n1");
    assert.equal(s.nodeIdOf(s.broadcastResult("n2")), "n2");
    assert.equal(s.nodeIdOf("ocf.node.*.bres"), undefined, "the wildcard names no node");
    assert.equal(s.nodeIdOf("ocf.node.PI.hb"), undefined);
    assert.equal(s.nodeIdOf("other.node.pi.hb"), undefined);
    assert.equal(s.nodeIdOf("ocf.nodes.pi.hb"), undefined);
    assert.equal(s.nodeIdOf("ocf.node.pi"), undefined, "too short");
    assert.equal(s.nodeIdOf("ocf.enroll"), undefined);
    assert.equal(s.nodeIdOf("ocf.node.*.hb"), undefined);
    assert.equal(subjects("x").nodeIdOf("ocf.node.pi.hb"), undefined, "another prefix's subject");
  });
});

describe("node ids", () => {
  test("valid ids", () => {
    for (const ok of ["a", "0", "worker-macbook", "a-", "n1", "a".repeat(63), "0".repeat(63), `a${"-".repeat(62)}`]) assert.ok(isValidNodeId(ok), ok);
  });

  test("invalid ids", () => {
    for (const bad of ["", "a".repeat(64), "Worker", "wOrker", "-a", "a_b", "a.b", "a b", "a>", "a*", " a", "a\n", "é"]) {
      assert.equal(isValidNodeId(bad), false, JSON.stringify(bad));
    }
  });
});

describe("decodeMessage", () => {
  const exec = { v: 1, id: "x", command: "true", timeout_ms: 5, max_output_bytes: 5 };

  test("non-JSON is bad_request", () => {
    const error = fleetError(() => decodeMessage(bytes("{nope"), ExecRequestSchema));
    assert.equal(error.code, "bad_request");
    assert.match(error.message, /not valid JSON \(5 bytes\)/);
    assert.equal(fleetError(() => decodeMessage(new Uint8Array(), ExecRequestSchema)).code, "bad_request");
    assert.equal(fleetError(() => decodeMessage(new Uint8Array([0xff, 0xfe, 0x00]), ExecRequestSchema)).code, "bad_request");
  });

  test("arrays, null and scalars are bad_request", () => {
    for (const text of ["[1]", "[]", "null", "1", '"v"', "true"]) {
      const error = fleetError(() => decodeMessage(bytes(text), ExecRequestSchema));
      assert.equal(error.code, "bad_request", text);
      assert.match(error.message, /must be a JSON object/, text);
    }
  });

  test("a missing or wrong version is unsupported_version", () => {
    const missing = fleetError(() => decodeMessage(bytes("{}"), ExecRequestSchema));
    assert.equal(missing.code, "unsupported_version");
    assert.match(missing.message, /protocol version null is not supported \(this side speaks v1\)/);
    const { v: _v, ...noVersion } = exec;
    assert.equal(fleetError(() => decodeMessage(encodeMessage(noVersion), ExecRequestSchema)).code, "unsupported_version");
    const two = fleetError(() => decodeMessage(encodeMessage({ ...exec, v: 2 }), ExecRequestSchema));
    assert.equal(two.code, "unsupported_version");
    assert.match(two.message, /protocol version 2/);
    assert.equal(fleetError(() => decodeMessage(encodeMessage({ ...exec, v: "1" }), ExecRequestSchema)).code, "unsupported_version");
    assert.equal(fleetError(() => decodeMessage(encodeMessage({ ...exec, v: 0 }), ExecRequestSchema)).code, "unsupported_version");
  });

  test("invalid fields are bad_request naming the field", () => {
    const missing = fleetError(() => decodeMessage(encodeMessage({ v: 1, id: "x", timeout_ms: 5, max_output_bytes: 5 }), ExecRequestSchema));
    assert.equal(missing.code, "bad_request");
    assert.match(missing.message, /^invalid message: command: /);
    const wrongType = fleetError(() => decodeMessage(encodeMessage({ ...exec, timeout_ms: "5" }), ExecRequestSchema));
    assert.match(wrongType.message, /timeout_ms/);
    const tooBig = fleetError(() => decodeMessage(encodeMessage({ ...exec, timeout_ms: 24 * 3600 * 1000 + 1 }), ExecRequestSchema));
    assert.match(tooBig.message, /timeout_ms/);
    const emptyCommand = fleetError(() => decodeMessage(encodeMessage({ ...exec, command: "" }), ExecRequestSchema));
    assert.match(emptyCommand.message, /command/);
    const nested = fleetError(() =>
      decodeMessage(encodeMessage({ v: 1, node_id: "pi", ts: 1, seq: 0, load: { cpu: 101, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 1 } }), HeartbeatSchema),
    );
    assert.equal(nested.code, "bad_request");
    assert.match(nested.message, /load\.cpu/);
    // A node cannot announce room for everyone's work (it would draw every task that names no node).
    const greedy = fleetError(() =>
      decodeMessage(encodeMessage({ v: 1, node_id: "pi", ts: 1, seq: 0, load: { cpu: 0, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 1_000_000 } }), HeartbeatSchema),
    );
    assert.match(greedy.message, /load\.max_concurrent_tasks/);
    const badNode = fleetError(() => decodeMessage(encodeMessage({ v: 1, status: "pending", node_id: "Bad Id" }), JoinReplySchema));
    assert.match(badNode.message, /node_id: node id must match/);
  });

  test("at most five problems are listed, on one line", () => {
    const error = fleetError(() => decodeMessage(encodeMessage({ v: 1, id: 1, node_id: 2, status: 3, exit_code: "x", signal: 4, stdout: 5, stderr: 6 }), ExecResultSchema));
    assert.equal(error.message.split("; ").length, 5);
    assert.ok(!error.message.includes("\n"));
  });

  test("strict schemas reject unknown fields, naming them", () => {
    const extra = fleetError(() => decodeMessage(encodeMessage({ ...exec, sudo: true }), ExecRequestSchema));
    assert.equal(extra.code, "bad_request");
    assert.match(extra.message, /sudo/);
    assert.equal(ExecRequestSchema.safeParse({ ...exec, cwd: "/" }).success, false);
    assert.equal(BroadcastRequestSchema.safeParse({ ...exec, labels: {}, node_id: "pi" }).success, false);
    assert.equal(JoinRequestSchema.safeParse({ v: 1, public_key: "U", payload: "{}", sig: "s", extra: 1 }).success, false);
  });

  test("a valid message passes and keeps its values", () => {
    assert.deepEqual(decodeMessage(encodeMessage(exec), ExecRequestSchema), exec);
    const broadcast = decodeMessage(encodeMessage({ ...exec, labels: { site: "home" } }), BroadcastRequestSchema);
    assert.deepEqual(broadcast.labels, { site: "home" });
  });

  test("error replies", () => {
    const reply = errorReply("node_busy", "too many tasks");
    assert.deepEqual(reply, { v: PROTOCOL_VERSION, error: { code: "node_busy", message: "too many tasks" } });
    assert.deepEqual(asErrorReply(encodeMessage(reply)), reply);
    assert.equal(asErrorReply(bytes("{nope")), undefined);
    assert.equal(asErrorReply(encodeMessage({ v: 1, error: { code: "no_such_code", message: "x" } })), undefined);
    assert.equal(asErrorReply(encodeMessage({ v: 1, id: "x" })), undefined);
  });

  test("every error code has an HTTP status and FleetError carries it", () => {
    for (const code of ERROR_CODES) assert.ok(HTTP_STATUS[code] >= 400 && HTTP_STATUS[code] < 600, code);
    const error = new FleetError("node_not_found", "no node", { candidates: [] });
    assert.equal(error.httpStatus, 404);
    assert.equal(error.name, "FleetError");
    assert.deepEqual(error.details, { candidates: [] });
    assert.equal(new FleetError("ambiguous_node", "x").httpStatus, 409);
    assert.equal(new FleetError("timeout", "x").httpStatus, 504);
  });
});

describe("golden messages: the wire format does not drift", () => {
  test("object literals parse with their schema, unchanged", () => {
    const exec: ExecRequest = { v: 1, id: "0b9c", command: "df -h", timeout_ms: 30000, max_output_bytes: 1048576 };
    const heartbeat: Heartbeat = {
      v: 1,
      node_id: "pi",
      ts: 1763940000000,
      seq: 7,
      load: { cpu: 3.5, memory: 41, disk: 22, running_tasks: 1, max_concurrent_tasks: 5 },
      labels: { site: "home" },
      capabilities: ["shell.exec"],
    };
    const joinReply: JoinReply = { v: 1, status: "pending", node_id: "pi", request_id: "a9a6125e", message: "waiting for an admin to approve" };
    const broadcast: BroadcastRequest = { v: 1, id: "1", command: "uptime", timeout_ms: 1000, max_output_bytes: 1024, labels: { site: "home" } };
    const result: ExecResult = {
      v: 1,
      id: "0b9c",
      node_id: "pi",
      status: "timeout",
      exit_code: null,
      signal: "SIGTERM",
      stdout: "",
      stderr: "",
      duration_ms: 1000.5,
      truncated: false,
      error: { code: "timeout", message: "killed" },
    };
    const control: Control = { v: 1, type: "removed", node_id: "pi", message: "node was removed by an admin" };
    const joinPayload: JoinPayload = {
      node_id: "pi",
      name: "pi",
      hostname: "raspberrypi",
      os: "linux",
      arch: "arm64",
      ips: ["100.64.0.2"],
      labels: { site: "home" },
      capabilities: ["shell.exec"],
      version: "0.1.0",
      max_concurrent_tasks: 5,
      ts: 1763940000000,
    };
    const joinRequest: JoinRequest = { v: 1, public_key: "UABC", payload: JSON.stringify(joinPayload), sig: "c2ln" };
    assert.deepEqual(ExecRequestSchema.parse(exec), exec);
    assert.deepEqual(HeartbeatSchema.parse(heartbeat), heartbeat);
    assert.deepEqual(JoinReplySchema.parse(joinReply), joinReply);
    assert.deepEqual(BroadcastRequestSchema.parse(broadcast), broadcast);
    assert.deepEqual(ExecResultSchema.parse(result), result);
    assert.deepEqual(ControlSchema.parse(control), control);
    assert.deepEqual(JoinPayloadSchema.parse(joinPayload), joinPayload);
    assert.deepEqual(JoinRequestSchema.parse(joinRequest), joinRequest);
    // The minimal forms (optional fields left out) are valid too.
    assert.ok(HeartbeatSchema.safeParse({ v: 1, node_id: "pi", ts: 0, seq: 0, load: heartbeat.load }).success);
    assert.ok(JoinReplySchema.safeParse({ v: 1, status: "approved", node_id: "pi" }).success);
  });

  test("fixed JSON texts decode, and re-encode to the same bytes", () => {
    const golden = {
      exec: '{"v":1,"id":"0b9c","command":"df -h","timeout_ms":30000,"max_output_bytes":1048576}',
      broadcast: '{"v":1,"id":"1","command":"uptime","timeout_ms":1000,"max_output_bytes":1024,"labels":{"site":"home"}}',
      heartbeat:
        '{"v":1,"node_id":"pi","ts":1763940000000,"seq":7,"load":{"cpu":3.5,"memory":41,"disk":22,"running_tasks":1,"max_concurrent_tasks":5},"labels":{},"capabilities":["shell.exec"]}',
      result:
        '{"v":1,"id":"0b9c","node_id":"pi","status":"timeout","exit_code":null,"signal":"SIGTERM","stdout":"","stderr":"","duration_ms":1000.5,"truncated":false,"error":{"code":"timeout","message":"killed"}}',
      reply: '{"v":1,"status":"pending","node_id":"pi","request_id":"a9a6125e","message":"waiting"}',
      control: '{"v":1,"type":"approved","node_id":"pi","message":"approved"}',
    };
    const text = (value: unknown): string => new TextDecoder().decode(encodeMessage(value));
    assert.equal(text(decodeMessage(bytes(golden.exec), ExecRequestSchema)), golden.exec);
    assert.equal(text(decodeMessage(bytes(golden.broadcast), BroadcastRequestSchema)), golden.broadcast);
    assert.equal(text(decodeMessage(bytes(golden.heartbeat), HeartbeatSchema)), golden.heartbeat);
    assert.equal(text(decodeMessage(bytes(golden.result), ExecResultSchema)), golden.result);
    assert.equal(text(decodeMessage(bytes(golden.reply), JoinReplySchema)), golden.reply);
    assert.equal(text(decodeMessage(bytes(golden.control), ControlSchema)), golden.control);
  });

  test("the protocol version is 1", () => {
    assert.equal(PROTOCOL_VERSION, 1);
  });
});

describe("signed join requests", () => {
  const payload = (nodeId = "pi"): JoinPayload => joinPayload(nodeId, { hostname: "pi", arch: "arm64", ips: ["100.64.0.2"], labels: { site: "home" }, ts: 1 });
  const encoder = new TextEncoder();
  /** A request whose payload is any text, correctly signed. */
  const signText = (text: string, key = createUser()): JoinRequest => ({
    v: 1,
    public_key: key.getPublicKey(),
    payload: text,
    sig: Buffer.from(key.sign(encoder.encode(text))).toString("base64"),
  });

  test("round trip with a user key", () => {
    const key = createUser();
    const request = signJoinRequest(key, payload());
    assert.equal(request.v, PROTOCOL_VERSION);
    assert.equal(request.public_key, key.getPublicKey());
    assert.ok(request.public_key.startsWith("U"));
    assert.equal(request.payload, JSON.stringify(payload()));
    assert.ok(JoinRequestSchema.safeParse(request).success, "the envelope satisfies its own schema");
    assert.deepEqual(verifyJoinRequest(request), payload());
  });

  test("a tampered payload fails", () => {
    const request = signJoinRequest(createUser(), payload());
    const tampered = { ...request, payload: request.payload.replace('"node_id":"pi"', '"node_id":"nas"') };
    assert.notEqual(tampered.payload, request.payload);
    const error = fleetError(() => verifyJoinRequest(tampered));
    assert.equal(error.code, "bad_request");
    assert.match(error.message, /signature does not match public_key/);
    const spaced = { ...request, payload: `${request.payload} ` };
    assert.match(fleetError(() => verifyJoinRequest(spaced)).message, /signature does not match/);
  });

  test("a signature from another key fails", () => {
    const request = signJoinRequest(createUser(), payload());
    const other = signJoinRequest(createUser(), payload());
    assert.match(fleetError(() => verifyJoinRequest({ ...request, sig: other.sig })).message, /signature does not match/);
    // Claiming someone else's public key with one's own signature fails too.
    assert.match(fleetError(() => verifyJoinRequest({ ...other, public_key: request.public_key })).message, /signature does not match/);
  });

  test("keys that are not nkeys user keys are refused", () => {
    const account = createAccount();
    const byAccount = signJoinRequest(account, payload());
    const error = fleetError(() => verifyJoinRequest(byAccount));
    assert.equal(error.code, "bad_request");
    assert.match(error.message, /must be an nkeys user key/);
    const request = signJoinRequest(createUser(), payload());
    assert.match(fleetError(() => verifyJoinRequest({ ...request, public_key: "not-a-key" })).message, /user key/);
    assert.match(fleetError(() => verifyJoinRequest({ ...request, public_key: "UNOTAKEY" })).message, /bad public key or signature/);
  });

  test("a garbage signature is refused", () => {
    const request = signJoinRequest(createUser(), payload());
    const error = fleetError(() => verifyJoinRequest({ ...request, sig: "AAAA" }));
    assert.equal(error.code, "bad_request");
  });

  test("a signed payload that is not JSON is refused", () => {
    const error = fleetError(() => verifyJoinRequest(signText("this is not json")));
    assert.equal(error.code, "bad_request");
    assert.equal(error.message, "payload is not valid JSON");
  });

  test("a signed payload with invalid fields is refused naming them", () => {
    const badId = signJoinRequest(createUser(), { ...payload(), node_id: "Bad Id" });
    assert.match(fleetError(() => verifyJoinRequest(badId)).message, /invalid join payload: node_id/);
    const extra = signText(JSON.stringify({ ...payload(), admin: true }));
    assert.match(fleetError(() => verifyJoinRequest(extra)).message, /admin/);
    const { name: _name, ...noName } = payload();
    assert.match(fleetError(() => verifyJoinRequest(signText(JSON.stringify(noName)))).message, /name/);
  });

  test("control characters in any free-text join field are refused, naming the field and the character", () => {
    // The reproduction: this hostname cleared and rewrote lines of `ocf nodes pending`.
    const hostile = "h\r\x1b[2K\x1b[1A\x1b[2K";
    const error = fleetError(() => verifyJoinRequest(signJoinRequest(createUser(), { ...payload(), hostname: hostile })));
    assert.equal(error.code, "bad_request");
    assert.match(error.message, /^invalid join payload: hostname: contains the control character U\+000D at position 1/);
    const fields: Array<[string, Partial<JoinPayload>]> = [
      ["name", { name: "pi\x1b]0;owned\x07" }],
      ["os", { os: "linux\x7f" }],
      ["arch", { arch: "x64\u009b2J" }],
      ["ips.1", { ips: ["100.64.0.2", "10.0.0.1\n"] }],
      ["version", { version: "0.1.0\u202egnp.exe" }],
      ["capabilities.0", { capabilities: ["shell\u2066.exec"] }],
      ["hostname", { hostname: "\u0000" }],
    ];
    for (const [field, extra] of fields) {
      const refused = fleetError(() => verifyJoinRequest(signJoinRequest(createUser(), { ...payload(), ...extra })));
      assert.equal(refused.code, "bad_request", field);
      assert.match(refused.message, new RegExp(`invalid join payload: ${field.replace(".", "\\.")}: contains the control character U\\+`), field);
    }
    // Plain text beyond ASCII is fine: accents, CJK, emoji, a zero-width joiner.
    const friendly = { ...payload(), name: "café 家 🐧‍", hostname: "büro-pc" };
    assert.deepEqual(verifyJoinRequest(signJoinRequest(createUser(), friendly)), friendly);
    // Heartbeats carry capabilities too.
    assert.equal(HeartbeatSchema.safeParse({ v: 1, node_id: "pi", ts: 1, seq: 0, load: { cpu: 0, memory: 0, disk: 0, running_tasks: 0, max_concurrent_tasks: 1 }, capabilities: ["x\x1b[2J"] }).success, false);
  });
});

describe("label selectors", () => {
  test("a node matches when it has every key=value of the selector", () => {
    assert.ok(labelsMatch({ site: "home", gpu: "yes" }, {}));
    assert.ok(labelsMatch({}, {}));
    assert.ok(labelsMatch({ site: "home", gpu: "yes" }, { site: "home" }));
    assert.ok(labelsMatch({ site: "home", gpu: "yes" }, { site: "home", gpu: "yes" }));
    assert.equal(labelsMatch({ site: "home" }, { site: "home", gpu: "yes" }), false);
    assert.equal(labelsMatch({ site: "office" }, { site: "home" }), false);
    assert.equal(labelsMatch({ site: "Home" }, { site: "home" }), false, "values are case-sensitive");
    assert.equal(labelsMatch({}, { site: "" }), false, "an empty value still requires the key");
    assert.ok(labelsMatch({ site: "" }, { site: "" }));
    assert.equal(labelsMatch({}, { constructor: "x" }), false, "inherited properties are not labels");
  });
});

test("SOFTWARE_VERSION equals package.json's version", () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  assert.equal(SOFTWARE_VERSION, pkg.version);
  assert.match(SOFTWARE_VERSION, /^\d+\.\d+\.\d+/);
});

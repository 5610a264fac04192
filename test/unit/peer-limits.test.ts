/**
 * What bounds a node with valid credentials, without NATS: the coordinator answers a join over NATS
 * only to the node its verified key belongs to (Enrollment.joinOverNats' `sender`), only in that
 * node's own inbox (isNodeInbox); per-node heartbeat buckets (KeyedRate); label counts
 * (LabelsSchema, the config's worker.labels); and reply subjects nobody can guess.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import { pino } from "pino";
import { ConfigSchema } from "../../src/config/schema.js";
import { Enrollment } from "../../src/coordinator/enrollment.js";
import { Pairing } from "../../src/coordinator/pairing.js";
import { HEARTBEAT_RATE, KeyedRate } from "../../src/coordinator/peer-limits.js";
import { Registry } from "../../src/coordinator/registry.js";
import { encodeMessage } from "../../src/protocol/codec.js";
import { HeartbeatSchema, JoinPayloadSchema, LabelsSchema, MAX_JOIN_REQUEST_BYTES, MAX_LABELS, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { openDatabase } from "../../src/storage/database.js";
import { JoinRequestRepository } from "../../src/storage/join-requests.js";
import { NodeRepository } from "../../src/storage/nodes.js";
import { unpredictableInbox } from "../../src/transport/request.js";
import { isNodeInbox, NODE_MAX_SUBSCRIPTIONS, nodePermissions } from "../../src/transport/trust.js";
import { subjects } from "../../src/protocol/subjects.js";
import { joinPayload } from "../helpers/fixtures.js";

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: (): number => now, advance: (ms: number): void => void (now += ms) };
}

const labels = (count: number): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, "v"]));

describe("replies go only to a node's own inbox", () => {
  test("isNodeInbox: the node's inboxes as nats.js and request.ts make them, nothing else", () => {
    assert.ok(isNodeInbox("_INBOX_vm.AbC123xyzAbC123xyzAbCd.Xy12Ab9z", "vm"), "nats.js' muxed inbox");
    assert.ok(isNodeInbox(`${unpredictableInbox("_INBOX_vm")}`, "vm"), "request.ts' inbox");
    for (const reply of [
      "_INBOX.AbC123.Xy12",
      "_INBOX_vm2.x",
      "_INBOX_v.x",
      "_INBOX_vm",
      "_INBOX_vm.",
      "_INBOX_vm.>",
      "_INBOX_vm.*",
      "_INBOX_vm.a..b",
      "_INBOX_vm.a b",
      "ocf.node.vm.exec",
      "_INBOX_evil._INBOX_vm",
      `_INBOX_vm.${"a".repeat(300)}`,
    ]) {
      assert.equal(isNodeInbox(reply, "vm"), false, reply);
    }
  });

  test("unpredictableInbox: 122 random bits each, under the given prefix", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i += 1) {
      const inbox = unpredictableInbox("_INBOX_vm");
      assert.match(inbox, /^_INBOX_vm\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      seen.add(inbox);
    }
    assert.equal(seen.size, 1000);
    assert.match(unpredictableInbox(), /^_INBOX\.[0-9a-f-]{36}$/);
  });

  test("a node's credentials hold at most NODE_MAX_SUBSCRIPTIONS subscriptions", () => {
    assert.equal(nodePermissions(subjects(), "vm").subs, NODE_MAX_SUBSCRIPTIONS);
    assert.ok(NODE_MAX_SUBSCRIPTIONS >= 16, "room above the 7 a worker holds");
  });
});

describe("joins over NATS: whom the answer may go to", () => {
  function setup() {
    const db = openDatabase(":memory:");
    const c = clock(Date.now());
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 60_000, now: c.now });
    const pairing = new Pairing(registry, new JoinRequestRepository(db), { autoApprove: true, notify: () => undefined, logger: pino({ level: "silent" }), now: c.now });
    const keys = new Map<string, KeyPair>();
    for (const id of ["vm", "evil"]) {
      const key = createUser();
      keys.set(id, key);
      pairing.join(key.getPublicKey(), joinPayload(id), "http");
    }
    const enrollment = new Enrollment({ pairing, issueJwt: () => Promise.resolve("jwt"), logger: pino({ level: "silent" }), now: c.now });
    let ts = Date.now();
    const join = (key: KeyPair, nodeId: string): Uint8Array => encodeMessage(signJoinRequest(key, joinPayload(nodeId, { ts: (ts += 1) })));
    return { enrollment, keys, join, key: (id: string) => keys.get(id) as KeyPair };
  }

  test("a member's own join: answered, to that member", () => {
    const { enrollment, join, key } = setup();
    const outcome = enrollment.joinOverNats(join(key("vm"), "vm"));
    assert.equal(outcome.ok, true);
    assert.equal(outcome.sender, "vm");
  });

  test("a member's key claiming another node: refused, and the refusal goes to the key's owner, never to the node claimed", () => {
    const { enrollment, join, key } = setup();
    const outcome = enrollment.joinOverNats(join(key("evil"), "vm"));
    assert.equal(outcome.ok, false);
    assert.equal(outcome.ok ? "" : outcome.error.code, "identity_mismatch");
    assert.equal(outcome.sender, "evil");
  });

  test("nothing verified, or a key no member holds: nobody to answer", () => {
    const { enrollment, join } = setup();
    const stranger = createUser();
    for (const data of [
      new TextEncoder().encode("{{{"),
      encodeMessage({ v: PROTOCOL_VERSION, public_key: "UABC", payload: "{}", sig: "AAAA" }),
      new Uint8Array(MAX_JOIN_REQUEST_BYTES + 1).fill(0x20),
      join(stranger, "vm"),
      join(stranger, "newcomer"),
    ]) {
      const outcome = enrollment.joinOverNats(data);
      assert.equal(outcome.ok, false);
      assert.equal(outcome.sender, undefined);
    }
  });

  test("the limit per key: evil's joins claiming vm use up evil's allowance, not vm's", () => {
    const { enrollment, join, key } = setup();
    const codes = Array.from({ length: 15 }, () => {
      const outcome = enrollment.joinOverNats(join(key("evil"), "vm"));
      return outcome.ok ? outcome.reply.status : outcome.error.code;
    });
    assert.deepEqual(codes.slice(10), Array(5).fill("rate_limited"));
    const vm = enrollment.joinOverNats(join(key("vm"), "vm"));
    assert.equal(vm.ok, true);
  });
});

describe("heartbeats and labels are bounded", () => {
  test("KeyedRate: a burst, then the refill rate, per key", () => {
    const c = clock();
    const rate = new KeyedRate(HEARTBEAT_RATE, c.now);
    let taken = 0;
    for (let i = 0; i < 1000; i += 1) if (rate.admit("evil")) taken += 1;
    assert.equal(taken, HEARTBEAT_RATE.burst);
    assert.ok(rate.admit("vm"), "another node has its own bucket");
    c.advance(1000);
    taken = 0;
    for (let i = 0; i < 1000; i += 1) if (rate.admit("evil")) taken += 1;
    assert.equal(taken, HEARTBEAT_RATE.perSecond);
    // A worker beating every 200 ms (the tests' interval) is never dropped.
    const steady = new KeyedRate(HEARTBEAT_RATE, c.now);
    for (let i = 0; i < 600; i += 1) {
      assert.ok(steady.admit("vm"));
      c.advance(200);
    }
  });

  test(`at most ${MAX_LABELS} labels in joins, heartbeats, selectors and the config; counted before the keys are checked`, () => {
    assert.equal(LabelsSchema.safeParse(labels(MAX_LABELS)).success, true);
    const tooMany = LabelsSchema.safeParse(labels(MAX_LABELS + 1));
    assert.equal(tooMany.success, false);
    assert.match(tooMany.error?.issues[0]?.message ?? "", /at most 64 labels are allowed \(got 65\)/);
    // 50,000 labels with invalid keys: one issue (the count), not 50,000.
    const flood = LabelsSchema.safeParse(Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`bad key ${i}`, "v"])));
    assert.equal(flood.error?.issues.length, 1);
    assert.equal(LabelsSchema.safeParse("nope").success, false);
    assert.equal(LabelsSchema.safeParse({ "bad key": "v" }).success, false);
    const beat = { v: PROTOCOL_VERSION, node_id: "vm", ts: 1, seq: 1, load: { cpu: 1, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 1 } };
    assert.equal(HeartbeatSchema.safeParse({ ...beat, labels: labels(MAX_LABELS + 1) }).success, false);
    assert.equal(JoinPayloadSchema.safeParse(joinPayload("vm", { labels: labels(MAX_LABELS + 1) })).success, false);
    const config = ConfigSchema.safeParse({ worker: { labels: labels(MAX_LABELS + 1) } });
    assert.equal(config.success, false);
    assert.deepEqual(config.error?.issues[0]?.path, ["worker", "labels"]);
    assert.equal(ConfigSchema.safeParse({ worker: { labels: { "has space": "x" } } }).success, false, "keys as the coordinator accepts them");
    assert.deepEqual(ConfigSchema.parse({ worker: { labels: { gpu: "yes" } } }).worker.labels, { gpu: "yes" });
  });
});

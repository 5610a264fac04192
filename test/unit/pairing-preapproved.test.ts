import assert from "node:assert/strict";
import { test } from "node:test";
import { createUser } from "@nats-io/nkeys";
import pino from "pino";
import { Pairing } from "../../src/coordinator/pairing.js";
import { Registry } from "../../src/coordinator/registry.js";
import { FleetError } from "../../src/protocol/errors.js";
import type { JoinPayload } from "../../src/protocol/messages.js";
import { openDatabase } from "../../src/storage/database.js";
import { JoinRequestRepository } from "../../src/storage/join-requests.js";
import { NodeRepository } from "../../src/storage/nodes.js";

function payload(nodeId: string): JoinPayload {
  return { node_id: nodeId, name: nodeId, hostname: "h", os: "linux", arch: "x64", ips: [], labels: {}, capabilities: ["shell.exec"], version: "0.1.0", max_concurrent_tasks: 5, ts: Date.now() };
}

function setup(preApproved: Array<{ nodeId: string; publicKey: string }>, db = openDatabase(":memory:")) {
  const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 90_000 });
  const notes: string[] = [];
  const pairing = new Pairing(registry, new JoinRequestRepository(db), {
    autoApprove: false,
    preApproved,
    notify: (nodeId, type) => notes.push(`${nodeId}:${type}`),
    logger: pino({ level: "silent" }),
  });
  return { registry, pairing, notes, db };
}

test("ocf up's pre-approved key re-binds its local node id when the worker got a new identity", () => {
  const oldKey = createUser().getPublicKey();
  const newKey = createUser().getPublicKey();
  // First run: the old key was pre-approved.
  const first = setup([{ nodeId: "local", publicKey: oldKey }]);
  assert.equal(first.pairing.join(oldKey, payload("local")).status, "approved");
  // Same database, next run of ocf up with a new identity for the local worker.
  const second = setup([{ nodeId: "local", publicKey: newKey }], first.db);
  assert.equal(second.registry.get("local")?.public_key, oldKey);
  assert.equal(second.pairing.join(newKey, payload("local")).status, "approved");
  assert.equal(second.registry.get("local")?.public_key, newKey);
  assert.ok(!second.notes.includes("local:removed"), "the new worker must not be told it was removed");
  // The old key is now refused, and a key nobody vouched for still cannot take the id.
  assert.throws(() => second.pairing.join(oldKey, payload("local")), (error: Error) => error instanceof FleetError && error.code === "identity_mismatch");
  const stranger = createUser().getPublicKey();
  assert.throws(() => second.pairing.join(stranger, payload("local")), (error: Error) => error instanceof FleetError && error.code === "identity_mismatch");
});

test("a pre-approved key is approved again after an admin removed it (ocf up restarted)", () => {
  const key = createUser().getPublicKey();
  const { pairing, registry } = setup([{ nodeId: "local", publicKey: key }]);
  assert.equal(pairing.join(key, payload("local")).status, "approved");
  pairing.remove("local");
  assert.equal(registry.get("local"), undefined);
  assert.equal(pairing.join(key, payload("local")).status, "approved");
  assert.equal(registry.get("local")?.public_key, key);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry } from "../../src/coordinator/registry.js";
import { FleetError } from "../../src/protocol/errors.js";
import type { Heartbeat } from "../../src/protocol/messages.js";
import { openDatabase } from "../../src/storage/database.js";
import { NodeRepository, type NodeRecord } from "../../src/storage/nodes.js";

const node = (id: string, name = id, labels: Record<string, string> = {}): NodeRecord => ({
  id, name, public_key: `U${id}`, hostname: id, os: "linux", arch: "x64", ips: [], labels, capabilities: ["shell.exec"], version: "0.1.0",
  max_concurrent_tasks: 5, approved_at: 0, last_seen: null, load: null, status: "offline",
});
const beat = (id: string, ts = 0): Heartbeat => ({ v: 1, node_id: id, ts, seq: 0, load: { cpu: 5, memory: 40, disk: 20, running_tasks: 1, max_concurrent_tasks: 5 } });

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test("resolve by id, exact name, forgiving name; ambiguous and unknown give candidates", () => {
  const registry = new Registry(new NodeRepository(openDatabase(":memory:")), { heartbeatTimeoutMs: 1000 });
  registry.add(node("n1", "home-server"));
  registry.add(node("n2", "macbook"));
  registry.add(node("n3", "Twin"));
  registry.add(node("n4", "twin"));
  assert.equal(registry.resolve("n2").id, "n2");
  assert.equal(registry.resolve("home-server").id, "n1");
  assert.equal(registry.resolve("Home Server").id, "n1");
  assert.equal(registry.resolve("HOME_SERVER").id, "n1");
  assert.equal(registry.resolve("Twin").id, "n3");
  const ambiguous = (() => {
    try {
      registry.resolve("TWIN");
    } catch (error) {
      return error as FleetError;
    }
    return undefined;
  })();
  assert.equal(ambiguous?.code, "ambiguous_node");
  assert.deepEqual((ambiguous?.details?.candidates as Array<{ id: string }>).map((c) => c.id), ["n3", "n4"]);
  assert.throws(() => registry.resolve("nas"), (error: Error) => error instanceof FleetError && error.code === "node_not_found" && Array.isArray(error.details?.candidates));
});

test("silence past the timeout marks offline; a beat marks online; changes are reported", () => {
  const time = clock();
  const changes: string[] = [];
  const registry = new Registry(new NodeRepository(openDatabase(":memory:")), { heartbeatTimeoutMs: 1000, now: time.now, onStatusChange: (c) => changes.push(`${c.node.id}:${c.to}`) });
  registry.add(node("pi"));
  assert.equal(registry.beat(beat("pi")), true);
  assert.equal(registry.get("pi")?.status, "online");
  time.advance(999);
  assert.deepEqual(registry.sweep(), []);
  time.advance(2);
  assert.deepEqual(registry.sweep().map((n) => n.id), ["pi"]);
  assert.equal(registry.get("pi")?.status, "offline");
  registry.beat(beat("pi"));
  assert.equal(registry.get("pi")?.status, "online");
  assert.deepEqual(changes, ["pi:online", "pi:offline", "pi:online"]);
  assert.equal(registry.beat(beat("stranger")), false, "a heartbeat from a non-member is not accepted");
  assert.deepEqual(registry.counts(), { total: 1, online: 1, offline: 0 });
});

test("after a restart no node goes offline before a full timeout, even with an old last_seen", () => {
  const db = openDatabase(":memory:");
  const time = clock();
  const first = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: time.now });
  first.add(node("pi"));
  first.beat(beat("pi"));
  first.flush();
  time.advance(60_000); // the coordinator was down for a minute
  const second = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: time.now });
  assert.equal(second.get("pi")?.status, "online");
  time.advance(999);
  assert.deepEqual(second.sweep(), []);
  time.advance(2);
  assert.deepEqual(second.sweep().map((n) => n.id), ["pi"]);
});

test("heartbeats are flushed to SQLite in batches", () => {
  const db = openDatabase(":memory:");
  const time = clock();
  const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: time.now });
  registry.add(node("a"));
  registry.add(node("b"));
  registry.beat(beat("a"));
  registry.beat(beat("b"));
  assert.equal(new NodeRepository(db).get("a")?.last_seen, null, "not written before the flush");
  assert.equal(registry.flush(), 2);
  const stored = new NodeRepository(db).get("a");
  assert.equal(stored?.last_seen, time.now());
  assert.deepEqual(stored?.load, beat("a").load);
  assert.equal(registry.flush(), 0);
  assert.equal(registry.remove("a"), true);
  assert.equal(new NodeRepository(db).get("a"), undefined);
});

test("select by labels", () => {
  const registry = new Registry(new NodeRepository(openDatabase(":memory:")), { heartbeatTimeoutMs: 1000 });
  registry.add(node("a", "a", { site: "home" }));
  registry.add(node("b", "b", { site: "office" }));
  assert.deepEqual(registry.select({}).map((n) => n.id), ["a", "b"]);
  assert.deepEqual(registry.select({ site: "home" }).map((n) => n.id), ["a"]);
});

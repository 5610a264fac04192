import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createUser } from "@nats-io/nkeys";
import { pino } from "pino";
import { Pairing, type PairingOptions } from "../../src/coordinator/pairing.js";
import { Registry, normaliseName, type StatusChange } from "../../src/coordinator/registry.js";
import { FleetError, type ErrorCode } from "../../src/protocol/errors.js";
import type { Heartbeat, JoinPayload, Load } from "../../src/protocol/messages.js";
import { openDatabase, type SqliteDatabase } from "../../src/storage/database.js";
import { JoinRequestRepository } from "../../src/storage/join-requests.js";
import { NodeRepository, type NodeRecord } from "../../src/storage/nodes.js";
import { joinPayload as sharedJoinPayload } from "../helpers/fixtures.js";
import type { AuditInput } from "../../src/coordinator/audit.js";
import { pendingMatcher, PendingSelectionSchema, type PendingSelection } from "../../src/coordinator/pending-selection.js";
import { keyFingerprint } from "../../src/protocol/fingerprint.js";

const T0 = 1_700_000_000_000;

/** A fake clock shared by registry and pairing. */
function fakeClock(start = T0) {
  let now = start;
  return { now: (): number => now, advance: (ms: number): number => (now += ms), set: (ms: number): number => (now = ms) };
}

const key = (): string => createUser().getPublicKey();

function joinPayload(nodeId: string, extra: Partial<JoinPayload> = {}): JoinPayload {
  return sharedJoinPayload(nodeId, { ts: T0, ...extra });
}

function nodeRecord(id: string, name = id, labels: Record<string, string> = {}): NodeRecord {
  return {
    id,
    name,
    public_key: `U${id.toUpperCase()}`,
    hostname: id,
    os: "linux",
    arch: "x64",
    ips: [],
    labels,
    capabilities: ["shell.exec"],
    version: "0.1.0",
    max_concurrent_tasks: 5,
    approved_at: T0,
    last_seen: null,
    load: null,
    status: "offline",
  };
}

const load = (cpu = 5): Load => ({ cpu, memory: 40, disk: 20, running_tasks: 1, max_concurrent_tasks: 5 });
const beat = (id: string, extra: Partial<Heartbeat> = {}): Heartbeat => ({ v: 1, node_id: id, ts: T0, seq: 0, load: load(), ...extra });

function fleetError(fn: () => unknown, code: ErrorCode): FleetError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FleetError, `expected a FleetError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected FleetError ${code}`);
}

interface Setup {
  audits: AuditInput[];
  revoked: string[];
  db: SqliteDatabase;
  clock: ReturnType<typeof fakeClock>;
  registry: Registry;
  requests: JoinRequestRepository;
  pairing: Pairing;
  notes: Array<{ nodeId: string; type: string; message: string }>;
  changes: string[];
}

function setup(options: Partial<Pick<PairingOptions, "autoApprove" | "preApproved" | "maxPending" | "maxPendingPerAddress" | "pendingExpiryMs">> = {}, db: SqliteDatabase = openDatabase(":memory:")): Setup {
  const clock = fakeClock();
  const changes: string[] = [];
  const registry = new Registry(new NodeRepository(db), {
    heartbeatTimeoutMs: 90_000,
    now: clock.now,
    onStatusChange: (change: StatusChange) => changes.push(`${change.node.id}:${change.from}->${change.to}`),
  });
  const requests = new JoinRequestRepository(db);
  const notes: Setup["notes"] = [];
  const audits: AuditInput[] = [];
  const revoked: string[] = [];
  const pairing = new Pairing(registry, requests, {
    autoApprove: options.autoApprove ?? false,
    preApproved: options.preApproved,
    now: clock.now,
    notify: (nodeId, type, message) => notes.push({ nodeId, type, message }),
    revoke: (publicKey) => revoked.push(publicKey),
    logger: pino({ level: "silent" }),
    audit: (entry) => audits.push(entry),
    ...(options.maxPending !== undefined ? { maxPending: options.maxPending } : {}),
    ...(options.maxPendingPerAddress !== undefined ? { maxPendingPerAddress: options.maxPendingPerAddress } : {}),
    ...(options.pendingExpiryMs !== undefined ? { pendingExpiryMs: options.pendingExpiryMs } : {}),
  });
  return { db, clock, registry, requests, pairing, notes, changes, audits, revoked };
}

describe("pairing", () => {
  test("a join from an unknown key is pending with a request id", () => {
    const { pairing, registry, requests, clock } = setup();
    const k = key();
    const reply = pairing.join(k, joinPayload("pi"));
    assert.equal(reply.v, 1);
    assert.equal(reply.status, "pending");
    assert.equal(reply.node_id, "pi");
    assert.match(reply.request_id ?? "", /^[0-9a-f]{8}$/);
    assert.equal(registry.get("pi"), undefined, "not a member before approval");
    const stored = requests.get(reply.request_id ?? "");
    assert.equal(stored?.status, "pending");
    assert.equal(stored?.public_key, k);
    assert.equal(stored?.created_at, clock.now());
    assert.deepEqual(pairing.pending().map((r) => r.request_id), [reply.request_id]);
  });

  test("a repeated join from the same key keeps the same request id and refreshes the payload", () => {
    const { pairing, requests, clock } = setup();
    const k = key();
    const first = pairing.join(k, joinPayload("pi"));
    clock.advance(5000);
    const second = pairing.join(k, joinPayload("pi", { hostname: "renamed" }));
    assert.equal(second.status, "pending");
    assert.equal(second.request_id, first.request_id);
    assert.equal(pairing.pending().length, 1);
    const stored = requests.get(first.request_id ?? "");
    assert.equal(stored?.payload.hostname, "renamed");
    assert.equal(stored?.created_at, T0);
    assert.equal(stored?.updated_at, T0 + 5000);
  });

  test("approve by request id: the node becomes a member and is notified", () => {
    const { pairing, registry, requests, notes, clock } = setup();
    const k = key();
    const { request_id } = pairing.join(k, joinPayload("pi", { labels: { site: "home" } }));
    clock.advance(1000);
    const result = pairing.approve(request_id ?? "");
    assert.equal(result.request.status, "approved");
    assert.equal(result.request.decided_at, T0 + 1000);
    assert.equal(result.node?.id, "pi");
    const node = registry.get("pi");
    assert.equal(node?.public_key, k);
    assert.deepEqual(node?.labels, { site: "home" });
    assert.equal(node?.approved_at, T0 + 1000);
    assert.equal(node?.status, "offline", "online only after the first heartbeat");
    assert.equal(requests.get(request_id ?? "")?.status, "approved");
    assert.deepEqual(notes, [{ nodeId: "pi", type: "approved", message: "approved" }]);
    assert.deepEqual(pairing.pending(), []);
  });

  test("approve by node id", () => {
    const { pairing, registry, notes } = setup();
    pairing.join(key(), joinPayload("nas"));
    assert.equal(pairing.approve("nas").node?.id, "nas");
    assert.ok(registry.get("nas"));
    assert.deepEqual(notes.map((n) => `${n.nodeId}:${n.type}`), ["nas:approved"]);
  });

  test("approving by node id with two pending keys is ambiguous; the request id decides", () => {
    const { pairing, requests } = setup();
    const a = pairing.join(key(), joinPayload("twin"));
    const b = pairing.join(key(), joinPayload("twin"));
    assert.notEqual(a.request_id, b.request_id);
    const error = fleetError(() => pairing.approve("twin"), "ambiguous_node");
    assert.deepEqual([...(error.details?.candidates as string[])].sort(), [a.request_id, b.request_id].sort());
    pairing.approve(b.request_id ?? "");
    // Approving one key rejects the other pending key for the same id.
    assert.equal(requests.get(a.request_id ?? "")?.status, "rejected");
    assert.equal(requests.get(a.request_id ?? "")?.reason, "another key was approved for this node id");
  });

  test("unknown references are not_found", () => {
    const { pairing } = setup();
    fleetError(() => pairing.approve("nothing"), "not_found");
    fleetError(() => pairing.reject("nothing"), "not_found");
    fleetError(() => pairing.remove("nothing"), "node_not_found");
  });

  test("a join from the approved key answers approved and refreshes what the node says", () => {
    const { pairing, registry } = setup();
    const k = key();
    pairing.join(k, joinPayload("pi"));
    pairing.approve("pi");
    const again = pairing.join(k, joinPayload("pi", { name: "Raspberry", version: "0.2.0" }));
    assert.equal(again.status, "approved");
    assert.equal(again.node_id, "pi");
    assert.equal(registry.get("pi")?.name, "Raspberry");
    assert.equal(registry.get("pi")?.version, "0.2.0");
    assert.equal(registry.get("pi")?.public_key, k);
  });

  test("another key for an approved node id is refused with identity_mismatch", () => {
    const { pairing, registry, requests } = setup();
    const owner = key();
    pairing.join(owner, joinPayload("pi"));
    pairing.approve("pi");
    const intruder = key();
    const error = fleetError(() => pairing.join(intruder, joinPayload("pi")), "identity_mismatch");
    assert.match(error.message, /"pi" is already approved with another key/);
    assert.equal(error.httpStatus, 409);
    assert.equal(registry.get("pi")?.public_key, owner, "the binding is unchanged");
    assert.equal(requests.findByKey("pi", intruder), undefined, "no request is stored for the intruder");
  });

  test("reject: the key's later joins answer rejected with the reason", () => {
    const { pairing, registry, notes, requests } = setup();
    const k = key();
    const { request_id } = pairing.join(k, joinPayload("pi"));
    const result = pairing.reject(request_id ?? "", "not ours");
    assert.equal(result.request.status, "rejected");
    assert.equal(requests.get(request_id ?? "")?.reason, "not ours");
    assert.deepEqual(notes, [{ nodeId: "pi", type: "rejected", message: "not ours" }]);
    const later = pairing.join(k, joinPayload("pi"));
    assert.equal(later.status, "rejected");
    assert.equal(later.request_id, request_id);
    assert.equal(later.message, "not ours");
    assert.equal(registry.get("pi"), undefined);
    assert.deepEqual(pairing.pending(), []);
  });

  test("deciding a request that is no longer pending is a conflict", () => {
    const { pairing } = setup();
    const approved = pairing.join(key(), joinPayload("a")).request_id ?? "";
    pairing.approve(approved);
    assert.match(fleetError(() => pairing.approve(approved), "conflict").message, /already approved/);
    assert.match(fleetError(() => pairing.reject(approved), "conflict").message, /already approved/);
    const rejected = pairing.join(key(), joinPayload("b")).request_id ?? "";
    pairing.reject(rejected);
    assert.match(fleetError(() => pairing.approve(rejected), "conflict").message, /already rejected/);
    assert.match(fleetError(() => pairing.reject(rejected), "conflict").message, /already rejected/);
  });

  test("remove: the node is gone, told so, and its key is rejected from then on", () => {
    const { pairing, registry, notes, db } = setup();
    const k = key();
    pairing.join(k, joinPayload("pi"));
    pairing.approve("pi");
    const removed = pairing.remove("pi");
    assert.equal(removed.id, "pi");
    assert.equal(registry.get("pi"), undefined);
    assert.equal(new NodeRepository(db).get("pi"), undefined, "deleted from the database too");
    assert.deepEqual(notes.at(-1), { nodeId: "pi", type: "removed", message: "node was removed by an admin" });
    const again = pairing.join(k, joinPayload("pi"));
    assert.equal(again.status, "rejected");
    assert.equal(registry.get("pi"), undefined);
    assert.deepEqual(pairing.pending(), []);
  });

  test("after a removal, a fresh key for the same id is pending and can be approved", () => {
    const { pairing, registry } = setup();
    const old = key();
    pairing.join(old, joinPayload("pi"));
    pairing.approve("pi");
    pairing.remove("pi");
    const fresh = key();
    const reply = pairing.join(fresh, joinPayload("pi"));
    assert.equal(reply.status, "pending");
    pairing.approve("pi");
    assert.equal(registry.get("pi")?.public_key, fresh);
    fleetError(() => pairing.join(old, joinPayload("pi")), "identity_mismatch");
  });

  test("removing a node with no join request on file still bans its key", () => {
    const { pairing, registry, requests } = setup();
    registry.add(nodeRecord("legacy"));
    pairing.remove("legacy", "decommissioned");
    const banned = requests.findByKey("legacy", "ULEGACY");
    assert.equal(banned?.status, "rejected");
    assert.equal(banned?.reason, "decommissioned");
  });

  test("autoApprove approves on arrival", () => {
    const { pairing, registry, notes } = setup({ autoApprove: true });
    const k = key();
    const reply = pairing.join(k, joinPayload("pi"));
    assert.equal(reply.status, "approved");
    assert.match(reply.request_id ?? "", /^[0-9a-f]{8}$/);
    assert.equal(registry.get("pi")?.public_key, k);
    assert.deepEqual(notes.map((n) => n.type), ["approved"]);
    // Auto-approve never lets a second key take an approved id.
    fleetError(() => pairing.join(key(), joinPayload("pi")), "identity_mismatch");
  });

  test("a pre-approved key is approved on arrival; another key for the same id is not", () => {
    const local = key();
    const { pairing, registry, requests } = setup({ preApproved: [{ nodeId: "local", publicKey: local }] });
    const other = key();
    const otherReply = pairing.join(other, joinPayload("local"));
    assert.equal(otherReply.status, "pending", "only the vouched-for key is approved automatically");
    assert.equal(registry.get("local"), undefined);
    assert.equal(pairing.join(local, joinPayload("local")).status, "approved");
    assert.equal(registry.get("local")?.public_key, local);
    assert.equal(requests.get(otherReply.request_id ?? "")?.status, "rejected", "the other pending key lost the id");
    fleetError(() => pairing.join(other, joinPayload("local")), "identity_mismatch");
    // A key belongs to one node id: the same key asking as another id is refused.
    fleetError(() => pairing.join(local, joinPayload("elsewhere")), "identity_mismatch");
    assert.equal(pairing.pending().some((request) => request.node_id === "elsewhere"), false);
  });

  test("pairing state survives a restart (same database)", () => {
    const first = setup();
    const k = key();
    const { request_id } = first.pairing.join(k, joinPayload("pi"));
    const second = setup({}, first.db);
    assert.equal(second.pairing.join(k, joinPayload("pi")).request_id, request_id);
    second.pairing.approve("pi");
    const third = setup({}, first.db);
    assert.equal(third.registry.get("pi")?.public_key, k);
    assert.equal(third.pairing.join(k, joinPayload("pi")).status, "approved");
  });
});

describe("pending join requests: limits, expiry, bulk reject", () => {
  const H = 3_600_000;

  test("a client address may hold at most maxPendingPerAddress pending requests; others still get in", () => {
    const { pairing, requests } = setup({ maxPendingPerAddress: 3 });
    for (let i = 0; i < 3; i += 1) assert.equal(pairing.join(key(), joinPayload(`flood-${i}`), "http", "127.0.0.2").status, "pending");
    const error = fleetError(() => pairing.join(key(), joinPayload("flood-3"), "http", "127.0.0.2"), "rate_limited");
    assert.equal(error.httpStatus, 429);
    assert.match(error.message, /^3 pending join requests already came from 127\.0\.0\.2 \(coordinator\.max_pending_per_address is 3\); .*ocf nodes reject --address 127\.0\.0\.2/);
    assert.equal(pairing.join(key(), joinPayload("real"), "http", "127.0.0.3").status, "pending", "another address is not affected");
    // A request already pending from that address keeps being answered (the worker asks again).
    const first = requests.listByStatus("pending")[0];
    assert.equal(pairing.join(first?.public_key ?? "", joinPayload("flood-0"), "http", "127.0.0.2").status, "pending");
    assert.equal(requests.get(first?.request_id ?? "")?.address, "127.0.0.2", "the address is kept with the request");
  });

  test("the total cap still holds, and a full queue is first cleared of expired requests", () => {
    const { pairing, clock, audits } = setup({ maxPending: 2, pendingExpiryMs: H });
    pairing.join(key(), joinPayload("a"), "http", "10.0.0.1");
    pairing.join(key(), joinPayload("b"), "http", "10.0.0.2");
    assert.match(fleetError(() => pairing.join(key(), joinPayload("c"), "http", "10.0.0.3"), "rate_limited").message, /already holds 2 pending join requests \(at most 2\)/);
    clock.advance(H + 1);
    assert.equal(pairing.join(key(), joinPayload("c"), "http", "10.0.0.3").status, "pending", "the stale ones were dropped to make room");
    assert.deepEqual(audits.filter((a) => a.action === "pairing.expired").map((a) => a.node_id).sort(), ["a", "b"]);
  });

  test("expiry: a request whose worker stopped asking for pendingExpiryMs is dropped and audited; one that keeps asking stays; a returning worker starts a new one", () => {
    const { pairing, clock, audits, requests } = setup({ pendingExpiryMs: H });
    const quiet = key();
    const chatty = key();
    const gone = pairing.join(quiet, joinPayload("quiet"), "http", "10.0.0.9");
    const kept = pairing.join(chatty, joinPayload("chatty"), "http", "10.0.0.8");
    // The waiting worker asks again every ~30 s (its long poll); the quiet one has gone away.
    for (let t = 0; t < H + 60_000; t += 30_000) {
      clock.advance(30_000);
      pairing.join(chatty, joinPayload("chatty"), "http", "10.0.0.8");
    }
    const expired = pairing.expireStale();
    assert.deepEqual(expired.map((r) => r.request_id), [gone.request_id]);
    assert.equal(requests.get(gone.request_id ?? ""), undefined, "dropped");
    assert.equal(requests.get(kept.request_id ?? "")?.status, "pending");
    const entry = audits.find((a) => a.action === "pairing.expired");
    assert.equal(entry?.node_id, "quiet");
    assert.equal(entry?.actor, "coordinator");
    assert.deepEqual(entry?.detail, { request_id: gone.request_id, fingerprint: keyFingerprint(quiet), address: "10.0.0.9", last_asked: new Date(T0).toISOString() });
    assert.deepEqual(pairing.expireStale(), [], "nothing twice");
    const back = pairing.join(quiet, joinPayload("quiet"), "http", "10.0.0.9");
    assert.equal(back.status, "pending");
    assert.notEqual(back.request_id, gone.request_id, "a new request");
  });

  test("expiry counts from the coordinator's start: after a long outage, nothing expires before its workers could ask again", () => {
    const db = openDatabase(":memory:");
    const first = setup({ pendingExpiryMs: H }, db);
    const { request_id } = first.pairing.join(key(), joinPayload("waiting"), "http", "10.0.0.4");
    // The coordinator was down for a day; a new one starts on the same database.
    const clock = fakeClock(T0 + 24 * H);
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 90_000, now: clock.now, onStatusChange: () => undefined });
    const restarted = new Pairing(registry, new JoinRequestRepository(db), { autoApprove: false, now: clock.now, notify: () => undefined, logger: pino({ level: "silent" }), pendingExpiryMs: H });
    assert.deepEqual(restarted.expireStale(), []);
    clock.advance(H - 1000);
    assert.deepEqual(restarted.expireStale(), []);
    clock.advance(2000);
    assert.deepEqual(restarted.expireStale().map((r) => r.request_id), [request_id]);
  });

  test("bulk reject by address (or CIDR), age and node pattern, combined; an empty selection is refused", () => {
    const { pairing, clock, notes, audits, revoked } = setup();
    pairing.join(key(), joinPayload("sim-1"), "http", "127.0.0.2");
    pairing.join(key(), joinPayload("sim-2"), "http", "127.0.0.3");
    clock.advance(2 * H);
    pairing.join(key(), joinPayload("sim-3"), "http", "127.0.0.2");
    pairing.join(key(), joinPayload("laptop"), "http", "192.168.1.20");
    pairing.join(key(), joinPayload("over-nats"));
    const now = clock.now();
    const select = (selection: PendingSelection): string[] => pairing.selectPending(pendingMatcher(PendingSelectionSchema.parse(selection), now)).map((r) => r.node_id).sort();
    assert.deepEqual(select({ address: "127.0.0.2" }), ["sim-1", "sim-3"]);
    assert.deepEqual(select({ address: "::ffff:127.0.0.2" }), ["sim-1", "sim-3"], "an IPv4-mapped address is the same address");
    assert.deepEqual(select({ address: "127.0.0.0/8" }), ["sim-1", "sim-2", "sim-3"]);
    assert.deepEqual(select({ older_than: "1h" }), ["sim-1", "sim-2"]);
    assert.deepEqual(select({ node: "sim-*" }), ["sim-1", "sim-2", "sim-3"]);
    assert.deepEqual(select({ node: "sim-?", address: "127.0.0.2", older_than: "90m" }), ["sim-1"], "criteria combine");
    assert.deepEqual(select({ all: true }), ["laptop", "over-nats", "sim-1", "sim-2", "sim-3"]);
    assert.match(fleetError(() => pendingMatcher({}, now), "bad_request").message, /say which pending requests to reject: all: true, or any of address/);
    assert.match(fleetError(() => pendingMatcher({ reason: "x", dry_run: true }, now), "bad_request").message, /empty selection rejects nothing/);
    assert.match(fleetError(() => pendingMatcher({ all: true, node: "sim-*" }, now), "bad_request").message, /give it alone/);
    for (const bad of [{ address: "not-an-ip" }, { address: "10.0.0.0/33" }, { older_than: "1 hour" }, { node: "Sim.*" }, { all: false }]) {
      assert.equal(PendingSelectionSchema.safeParse(bad).success, false, JSON.stringify(bad));
    }
    const rejected = pairing.rejectMany(pairing.selectPending(pendingMatcher({ address: "127.0.0.0/8" }, now)), "flood", "admin");
    assert.deepEqual(rejected.map((r) => r.status), ["rejected", "rejected", "rejected"]);
    assert.deepEqual(pairing.pending().map((r) => r.node_id).sort(), ["laptop", "over-nats"]);
    assert.deepEqual(notes.filter((n) => n.type === "rejected").map((n) => n.nodeId).sort(), ["sim-1", "sim-2", "sim-3"]);
    assert.equal(audits.filter((a) => a.action === "pairing.reject" && (a.detail as { bulk?: boolean }).bulk).length, 3);
    assert.deepEqual(revoked, [], "keys that never held credentials are not added to the revocation list");
    assert.equal(pairing.join(rejected[0]?.public_key ?? "", joinPayload("sim-1"), "http", "127.0.0.2").status, "rejected", "the key stays refused");
  });
});

describe("registry", () => {
  function registryWith(...nodes: NodeRecord[]): Registry {
    const registry = new Registry(new NodeRepository(openDatabase(":memory:")), { heartbeatTimeoutMs: 1000 });
    for (const node of nodes) registry.add(node);
    return registry;
  }

  test("findByKey answers from an index that follows adds, re-keys and removals", () => {
    const registry = registryWith(nodeRecord("a"), nodeRecord("b"));
    assert.equal(registry.findByKey("UA", "x")?.id, "a");
    assert.equal(registry.findByKey("UA", "a"), undefined, "the node itself is excepted");
    registry.add({ ...nodeRecord("a"), public_key: "UNEW" });
    assert.equal(registry.findByKey("UA", "x"), undefined, "the old key is forgotten when a node gets a new one");
    assert.equal(registry.findByKey("UNEW", "x")?.id, "a");
    registry.remove("a");
    assert.equal(registry.findByKey("UNEW", "x"), undefined);
    assert.equal(registry.findByKey("UB", "x")?.id, "b");
    // A new registry over the same rows finds the keys too (the index is built at start).
    const reloaded = new Registry((registry as unknown as { repo: NodeRepository }).repo, { heartbeatTimeoutMs: 1000 });
    assert.equal(reloaded.findByKey("UB", "x")?.id, "b");
  });

  test("normaliseName", () => {
    assert.equal(normaliseName("  Home Server "), "home-server");
    assert.equal(normaliseName("HOME_SERVER"), "home-server");
    assert.equal(normaliseName("a  _ b"), "a-b");
  });

  test("resolve by id, exact name and forgiving name", () => {
    const registry = registryWith(nodeRecord("n1", "home-server"), nodeRecord("n2", "macbook"), nodeRecord("n3", "Build Box"));
    assert.equal(registry.resolve("n2").id, "n2");
    assert.equal(registry.resolve("home-server").id, "n1");
    assert.equal(registry.resolve("Home Server").id, "n1");
    assert.equal(registry.resolve("HOME_SERVER").id, "n1");
    assert.equal(registry.resolve("Build Box").id, "n3");
    assert.equal(registry.resolve("build-box").id, "n3");
    assert.equal(registry.resolve("N2").id, "n2", "forgiving matching applies to ids too");
  });

  test("an id wins over another node's name", () => {
    const registry = registryWith(nodeRecord("alpha", "beta"), nodeRecord("beta", "gamma"));
    assert.equal(registry.resolve("beta").id, "beta");
    assert.equal(registry.resolve("gamma").id, "beta");
  });

  test("an id spelled another way wins over another node's name: a node calling itself \"VM\" does not capture vm", () => {
    const registry = registryWith(nodeRecord("vm", "vm"), nodeRecord("evil", "VM"), nodeRecord("home-server", "nas"), nodeRecord("x", "Home Server"));
    assert.equal(registry.resolve("VM").id, "vm");
    assert.equal(registry.resolve(" vm ").id, "vm");
    assert.equal(registry.resolve("Home Server").id, "home-server");
    assert.equal(registry.resolve("HOME_SERVER").id, "home-server");
    assert.equal(registry.resolve("evil").id, "evil");
  });

  test("ambiguous names give ambiguous_node with candidates", () => {
    const registry = registryWith(nodeRecord("n3", "Twin"), nodeRecord("n4", "twin"), nodeRecord("n5", "web"), nodeRecord("n6", "web"));
    assert.equal(registry.resolve("Twin").id, "n3", "an exact name is not ambiguous");
    const forgiving = fleetError(() => registry.resolve("TWIN"), "ambiguous_node");
    assert.deepEqual(forgiving.details?.candidates, [
      { id: "n3", name: "Twin" },
      { id: "n4", name: "twin" },
    ]);
    assert.match(forgiving.message, /matches 2 nodes/);
    const exactTwice = fleetError(() => registry.resolve("web"), "ambiguous_node");
    assert.deepEqual((exactTwice.details?.candidates as Array<{ id: string }>).map((c) => c.id), ["n5", "n6"]);
  });

  test("an unknown node gives node_not_found listing the known ones", () => {
    const registry = registryWith(nodeRecord("n1", "home-server"), nodeRecord("n2", "macbook"));
    const error = fleetError(() => registry.resolve("nas"), "node_not_found");
    assert.match(error.message, /no node "nas"/);
    assert.deepEqual(error.details?.candidates, [
      { id: "n1", name: "home-server" },
      { id: "n2", name: "macbook" },
    ]);
    assert.deepEqual(fleetError(() => registryWith().resolve("x"), "node_not_found").details?.candidates, []);
  });

  test("sweep marks a node offline once it is silent past the timeout; a beat brings it back", () => {
    const clock = fakeClock();
    const changes: string[] = [];
    const db = openDatabase(":memory:");
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: clock.now, onStatusChange: (c) => changes.push(`${c.node.id}:${c.from}->${c.to}`) });
    registry.add(nodeRecord("pi"));
    assert.deepEqual(registry.sweep(), [], "an offline node is never swept");
    assert.equal(registry.beat(beat("pi")), true);
    assert.equal(registry.get("pi")?.status, "online");
    assert.equal(registry.get("pi")?.last_seen, T0);
    assert.equal(new NodeRepository(db).get("pi")?.status, "online", "status changes are written at once");
    clock.advance(1000);
    assert.deepEqual(registry.sweep(), [], "exactly the timeout is still alive");
    clock.advance(1);
    assert.deepEqual(registry.sweep().map((n) => n.id), ["pi"]);
    assert.equal(registry.get("pi")?.status, "offline");
    assert.equal(new NodeRepository(db).get("pi")?.status, "offline");
    assert.deepEqual(registry.sweep(), [], "marked once");
    registry.beat(beat("pi"));
    assert.equal(registry.get("pi")?.status, "online");
    assert.equal(registry.get("pi")?.last_seen, T0 + 1001);
    assert.deepEqual(changes, ["pi:offline->online", "pi:online->offline", "pi:offline->online"]);
    assert.deepEqual(registry.counts(), { total: 1, online: 1, offline: 0 });
  });

  test("heartbeats from non-members are not accepted", () => {
    const registry = registryWith(nodeRecord("pi"));
    assert.equal(registry.beat(beat("stranger")), false);
    assert.equal(registry.get("stranger"), undefined);
    assert.deepEqual(registry.counts(), { total: 1, online: 0, offline: 1 });
  });

  test("a heartbeat updates load, labels and capabilities", () => {
    const db = openDatabase(":memory:");
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000 });
    registry.add(nodeRecord("pi"));
    registry.beat(beat("pi", { load: { ...load(77), max_concurrent_tasks: 9 }, labels: { gpu: "yes" }, capabilities: ["shell.exec", "gpu"] }));
    const node = registry.get("pi");
    assert.equal(node?.load?.cpu, 77);
    assert.equal(node?.max_concurrent_tasks, 9);
    assert.deepEqual(node?.labels, { gpu: "yes" });
    assert.deepEqual(new NodeRepository(db).get("pi")?.labels, { gpu: "yes" }, "label changes are written at once");
    assert.deepEqual(registry.select({ gpu: "yes" }).map((n) => n.id), ["pi"]);
    assert.deepEqual(new NodeRepository(db).get("pi")?.capabilities, ["shell.exec", "gpu"]);
  });

  test("after a restart, no node goes offline before a full timeout from the restart, even with an old last_seen", () => {
    const db = openDatabase(":memory:");
    const clock = fakeClock();
    const first = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: clock.now });
    first.add(nodeRecord("pi"));
    first.beat(beat("pi"));
    first.flush();
    clock.advance(60_000); // the coordinator was down for a minute
    const restartedAt = clock.now();
    const second = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: clock.now });
    assert.equal(second.get("pi")?.status, "online");
    assert.equal(second.get("pi")?.last_seen, T0, "last_seen is a minute old");
    clock.set(restartedAt + 999);
    assert.deepEqual(second.sweep(), []);
    clock.set(restartedAt + 1000);
    assert.deepEqual(second.sweep(), []);
    clock.set(restartedAt + 1001);
    assert.deepEqual(second.sweep().map((n) => n.id), ["pi"]);
    assert.equal(new NodeRepository(db).get("pi")?.status, "offline");
  });

  test("a node seen after the restart is timed from its last heartbeat", () => {
    const db = openDatabase(":memory:");
    const clock = fakeClock();
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: clock.now });
    registry.add(nodeRecord("pi"));
    clock.advance(800);
    registry.beat(beat("pi"));
    clock.advance(1000);
    assert.deepEqual(registry.sweep(), [], "1000 ms after the beat");
    clock.advance(1);
    assert.deepEqual(registry.sweep().map((n) => n.id), ["pi"]);
  });

  test("flush persists last_seen and load in one batch", () => {
    const db = openDatabase(":memory:");
    const clock = fakeClock();
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: clock.now });
    registry.add(nodeRecord("a"));
    registry.add(nodeRecord("b"));
    registry.beat(beat("a", { load: load(11) }));
    clock.advance(10);
    registry.beat(beat("b", { load: load(22) }));
    clock.advance(10);
    registry.beat(beat("a", { load: load(33) }));
    assert.equal(new NodeRepository(db).get("a")?.last_seen, null, "not written before the flush");
    assert.equal(new NodeRepository(db).get("a")?.load, null);
    assert.equal(registry.flush(), 2, "one update per node, the latest");
    const repo = new NodeRepository(db);
    assert.equal(repo.get("a")?.last_seen, T0 + 20);
    assert.deepEqual(repo.get("a")?.load, load(33));
    assert.equal(repo.get("b")?.last_seen, T0 + 10);
    assert.deepEqual(repo.get("b")?.load, load(22));
    assert.equal(registry.flush(), 0, "nothing new to write");
    // A registry opened afterwards sees the flushed values.
    const reopened = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000, now: clock.now });
    assert.deepEqual(reopened.get("a")?.load, load(33));
  });

  test("remove drops the node and its unflushed liveness", () => {
    const db = openDatabase(":memory:");
    const registry = new Registry(new NodeRepository(db), { heartbeatTimeoutMs: 1000 });
    registry.add(nodeRecord("a"));
    registry.beat(beat("a"));
    assert.equal(registry.remove("a"), true);
    assert.equal(registry.flush(), 0);
    assert.equal(new NodeRepository(db).get("a"), undefined);
    assert.equal(registry.get("a"), undefined);
    assert.equal(registry.remove("a"), false);
  });

  test("list is sorted by id; select filters by labels", () => {
    const registry = registryWith(nodeRecord("c", "c", { site: "home" }), nodeRecord("a", "a", { site: "home", gpu: "yes" }), nodeRecord("b", "b", { site: "office" }));
    assert.deepEqual(registry.list().map((n) => n.id), ["a", "b", "c"]);
    assert.deepEqual(registry.select({}).map((n) => n.id), ["a", "b", "c"]);
    assert.deepEqual(registry.select({ site: "home" }).map((n) => n.id), ["a", "c"]);
    assert.deepEqual(registry.select({ site: "home", gpu: "yes" }).map((n) => n.id), ["a"]);
    assert.deepEqual(registry.select({ site: "moon" }), []);
  });
});

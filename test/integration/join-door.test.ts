/**
 * The enrollment door under abuse, on a real fleet: hostile text in join fields, old and replayed
 * signed joins (HTTP and NATS), a flood of joins over NATS from an approved node's credentials,
 * the pending queue filled from several addresses, the bulk reject and key fingerprints.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { connect, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { JOIN_CLOCK_WINDOW_MS, NATS_JOIN_LIMITS } from "../../src/coordinator/join-guard.js";
import { LIMITED_PER_MINUTE } from "../../src/coordinator/audit.js";
import { asErrorReply, encodeMessage } from "../../src/protocol/codec.js";
import { keyFingerprint } from "../../src/protocol/fingerprint.js";
import { pino } from "pino";
import { Writable } from "node:stream";
import { Worker } from "../../src/worker/worker.js";
import type { BulkRejectResult, JoinRequestView } from "../../src/protocol/api.js";
import type { JoinPayload, JoinRequest } from "../../src/protocol/messages.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { subjects } from "../../src/protocol/subjects.js";
import { controlCharacterAt } from "../../src/protocol/text.js";
import { nodeInboxPrefix } from "../../src/transport/trust.js";
import { NODE_JWT_FILE } from "../../src/worker/worker.js";
import { runCli, TestFleet, waitFor } from "../helpers/fleet.js";
import { joinPayload } from "../helpers/fixtures.js";

const s = subjects();

interface Answer {
  status: number;
  body: { status?: string; request_id?: string; error?: { code: string; message: string } };
}

/** POST a join request to the enrollment door from a chosen loopback address (fetch cannot pick one). */
function enrollFrom(base: string, body: unknown, localAddress = "127.0.0.1", query = ""): Promise<Answer> {
  const url = new URL(base);
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: "POST", path: `/api/v1/enroll${query}`, localAddress, headers: { "content-type": "application/json", "content-length": String(data.length) } },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") as Answer["body"] }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

const signed = (nodeId: string, key: KeyPair = createUser(), extra: Partial<JoinPayload> = {}): JoinRequest => signJoinRequest(key, joinPayload(nodeId, { ts: Date.now(), ...extra }));

describe("the enrollment door refuses hostile text and the CLI never prints it raw", () => {
  const fleet = new TestFleet();
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
  });
  after(() => fleet.close());

  test("a join with control characters in a free-text field is refused with a 400 naming the field", async () => {
    const base = fleet.coordinator?.url ?? "";
    const hostile = await enrollFrom(base, signed("term", createUser(), { hostname: "h\r\x1b[2K\x1b[1A\x1b[2K" }));
    assert.equal(hostile.status, 400);
    assert.equal(hostile.body.error?.code, "bad_request");
    assert.match(hostile.body.error?.message ?? "", /hostname: contains the control character U\+000D at position 1/);
    const cases: Array<[string, Partial<JoinPayload>]> = [
      ["name", { name: "n\u202eexe.txt" }],
      ["ips.0", { ips: ["1.2.3.4\x1b[0m"] }],
      ["capabilities.0", { capabilities: ["shell.exec\u0085"] }],
    ];
    for (const [field, extra] of cases) {
      const answer = await enrollFrom(base, signed("term", createUser(), extra));
      assert.equal(answer.status, 400, field);
      assert.match(answer.body.error?.message ?? "", new RegExp(`${field.replace(".", "\\.")}: contains the control character`), field);
    }
    assert.equal((await fleet.client.pending()).length, 0, "nothing hostile was stored");
  });

  test("a hostile value already stored is printed escaped by ocf nodes pending", async () => {
    const base = fleet.coordinator?.url ?? "";
    const pending = await enrollFrom(base, signed("stored"));
    assert.equal(pending.body.status, "pending");
    // As if it had been stored by an older coordinator that did not refuse control characters.
    const db = new Database(join(fleet.dir, "cluster.db"));
    try {
      const row = db.prepare<[string], { payload: string }>("SELECT payload FROM join_requests WHERE request_id = ?").get(pending.body.request_id ?? "");
      const payload = { ...(JSON.parse(row?.payload ?? "{}") as Record<string, unknown>), hostname: "h\r\x1b[2K\x1b[1A\x1b[2K", name: "evil\u202eexe" };
      db.prepare("UPDATE join_requests SET payload = ? WHERE request_id = ?").run(JSON.stringify(payload), pending.body.request_id ?? "");
    } finally {
      db.close();
    }
    const table = await runCli(["nodes", "pending"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.equal(controlCharacterAt(table.stdout.replaceAll("\n", "")), -1, "no control character reaches the terminal");
    assert.match(table.stdout, /stored\s+evil\\u202eexe\s+h\\r\\x1b\[2K\\x1b\[1A\\x1b\[2K/);
    // --json keeps the exact stored text for scripts.
    const json = JSON.parse((await runCli(["nodes", "pending", "--json"], { env })).stdout) as Array<{ hostname: string }>;
    assert.equal(json[0]?.hostname, "h\r\x1b[2K\x1b[1A\x1b[2K");
  });
});

describe("signed joins are fresh and used once, over HTTP and NATS; joins over NATS are rate-limited", () => {
  const fleet = new TestFleet();
  const open: NatsConnection[] = [];
  let base = "";
  const stateOf = (nodeId: string): string => join(fleet.dir, "workers", nodeId);
  const keyOf = (nodeId: string): KeyPair => fromSeed(new TextEncoder().encode(readFileSync(join(stateOf(nodeId), "identity.seed"), "utf8").trim()));

  /** A raw NATS connection with a node's own seed and node.jwt (what a stolen or rogue node holds). */
  async function connectAs(nodeId: string): Promise<NatsConnection> {
    const jwt = readFileSync(join(stateOf(nodeId), NODE_JWT_FILE), "utf8").trim();
    const seed = new TextEncoder().encode(readFileSync(join(stateOf(nodeId), "identity.seed"), "utf8").trim());
    const nc = await connect({ servers: fleet.nats.url, authenticator: jwtAuthenticator(jwt, seed), inboxPrefix: nodeInboxPrefix(nodeId), maxReconnectAttempts: 0, timeout: 3000 });
    open.push(nc);
    return nc;
  }

  /** Send a join over NATS; the error code, or the status of the answer. */
  async function askNats(nc: NatsConnection, request: JoinRequest): Promise<string> {
    const reply = await nc.request(s.enroll(), encodeMessage(request), { timeout: 5000 });
    const failure = asErrorReply(reply.data);
    return failure ? failure.error.code : (JSON.parse(new TextDecoder().decode(reply.data)) as { status: string }).status;
  }

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    base = fleet.coordinator?.url ?? "";
    await fleet.addApprovedWorker("alpha", { labels: { site: "home" } });
    await fleet.addApprovedWorker("bravo");
  });
  after(async () => {
    for (const nc of open) if (!nc.isClosed()) await nc.close().catch(() => undefined);
    await fleet.close();
  });

  test("over HTTP, a join older or newer than the window is refused, saying how far off the clock is", async () => {
    const key = createUser();
    const old = await enrollFrom(base, signed("late", key, { ts: Date.now() - JOIN_CLOCK_WINDOW_MS - 60_000 }));
    assert.equal(old.status, 400);
    assert.equal(old.body.error?.code, "clock_skew");
    assert.match(old.body.error?.message ?? "", /this node's clock is 6 min( \d+ s)? behind the coordinator's .*fix the node's clock \(turn on NTP/);
    const ahead = await enrollFrom(base, signed("late", key, { ts: Date.now() + 3_600_000 }));
    assert.equal(ahead.body.error?.code, "clock_skew");
    assert.match(ahead.body.error?.message ?? "", /1 h ahead of the coordinator's/);
    // An approved node's join signed yesterday (the reproduction) changes nothing.
    const yesterday = await enrollFrom(base, signed("alpha", keyOf("alpha"), { name: "yesterday", labels: { stale: "yes" }, ts: Date.now() - 86_400_000 }));
    assert.equal(yesterday.body.error?.code, "clock_skew");
    const alpha = await fleet.client.node("alpha");
    assert.equal(alpha.name, "alpha");
    assert.deepEqual(alpha.labels, { site: "home" });
    assert.equal((await fleet.client.pending()).some((r) => r.node_id === "late"), false);
    const audit = await fleet.client.audit({ action: "pairing.refused", node: "late" });
    assert.ok(audit.some((entry) => entry.status === "clock_skew"), "the refusal is audited");
  });

  test("over HTTP, the exact same signed request sent twice: the second is refused", async () => {
    const request = signed("twice");
    const first = await enrollFrom(base, request);
    assert.equal(first.status, 200);
    assert.equal(first.body.status, "pending");
    const second = await enrollFrom(base, request);
    assert.equal(second.status, 409);
    assert.equal(second.body.error?.code, "replayed");
    // The signature spelled another way (base64 ignores the line break) is still the same request.
    const respelled = await enrollFrom(base, { ...request, sig: `${request.sig}\n` });
    assert.equal(respelled.body.error?.code, "replayed");
    // A captured join of an approved node, replayed after the node said something newer.
    const captured = signed("alpha", keyOf("alpha"), { name: "old-name", labels: { old: "yes" } });
    assert.equal((await enrollFrom(base, captured)).body.status, "approved");
    assert.equal((await enrollFrom(base, signed("alpha", keyOf("alpha"), { labels: { site: "home" } }))).body.status, "approved");
    const replay = await enrollFrom(base, captured);
    assert.equal(replay.body.error?.code, "replayed");
    const alpha = await fleet.client.node("alpha");
    assert.equal(alpha.name, "alpha", "the replay did not bring the old name back");
    assert.deepEqual(alpha.labels, { site: "home" });
  });

  test("over NATS, an old join and a replayed one are refused; the node's metadata stays", async () => {
    const nc = await connectAs("alpha");
    const key = keyOf("alpha");
    assert.equal(await askNats(nc, signed("alpha", key, { name: "stale", ts: Date.now() - JOIN_CLOCK_WINDOW_MS - 1000 })), "clock_skew");
    const captured = signed("alpha", key, { name: "captured" });
    assert.equal(await askNats(nc, captured), "approved");
    assert.equal(await askNats(nc, signed("alpha", key, { labels: { site: "home" } })), "approved");
    assert.equal(await askNats(nc, captured), "replayed");
    assert.equal((await fleet.client.node("alpha")).name, "alpha");
    // The same bytes over the other door are the same request.
    assert.equal((await enrollFrom(base, captured)).body.error?.code, "replayed");
  });

  test("1,000 joins over NATS claiming alpha from another member's credentials: rate_limited past that member's key allowance, answered in its own inbox, at most 30 audit rows; alpha's own allowance untouched", async () => {
    const nc = await connectAs("bravo");
    const since = new Date().toISOString();
    const bravoKey = keyOf("bravo");
    const started = Date.now();
    const codes = await Promise.all(Array.from({ length: 1000 }, (_, i) => askNats(nc, signed("alpha", bravoKey, { ts: started + i }))));
    const counts: Record<string, number> = {};
    for (const code of codes) counts[code] = (counts[code] ?? 0) + 1;
    assert.ok((counts.rate_limited ?? 0) >= 1000 - NATS_JOIN_LIMITS.perKeyPerMinute, JSON.stringify(counts));
    assert.ok((counts.identity_mismatch ?? 0) <= NATS_JOIN_LIMITS.perKeyPerMinute, JSON.stringify(counts));
    const rows = (await fleet.client.audit({ action: "pairing.refused", since, limit: 1000 })).length;
    assert.ok(rows <= LIMITED_PER_MINUTE, `${rows} audit rows`);
    // The allowance used up is bravo's key's, not alpha's: alpha still re-announces itself.
    assert.equal(await askNats(await connectAs("alpha"), signed("alpha", keyOf("alpha"), { labels: { site: "home" } })), "approved");
    assert.equal((await fleet.client.exec("alpha", "echo still-here")).stdout, "still-here\n");
  });

  test("joins signed by a key no member holds get no answer at all, wherever they ask for it", async () => {
    const nc = await connectAs("alpha");
    const watcher = await fleet.connectAdmin();
    open.push(watcher);
    const answers: string[] = [];
    watcher.subscribe(`${nodeInboxPrefix("alpha")}.>`, {
      callback: (_err, msg) => {
        answers.push(new TextDecoder().decode(msg.data));
      },
    });
    await watcher.flush();
    const thief = createUser();
    for (let i = 0; i < 50; i += 1) nc.publish(s.enroll(), encodeMessage(signed(i % 2 ? "alpha" : "newcomer", thief, { ts: Date.now() + i })), { reply: `${nodeInboxPrefix("alpha")}.thief.${i}` });
    await nc.flush();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(answers, []);
    assert.equal((await fleet.client.pending()).some((r) => r.node_id === "newcomer"), false);
  });

  test("a legitimate worker answered rate_limited over NATS stays connected and approved instead of leaving NATS", async () => {
    const worker = fleet.workers.get("alpha");
    assert.ok(worker);
    // alpha's allowance over NATS (10 joins a minute signed by its key) is used up here: its next re-announcement is refused.
    const nc = await connectAs("alpha");
    for (let i = 0; i < NATS_JOIN_LIMITS.perKeyPerMinute; i += 1) await askNats(nc, signed("alpha", keyOf("alpha"), { labels: { site: "home" }, ts: Date.now() + i }));
    assert.equal(await askNats(nc, signed("alpha", keyOf("alpha"), { labels: { site: "home" } })), "rate_limited");
    const replies: string[] = [];
    const watcher = await fleet.connectAdmin();
    open.push(watcher);
    // The answers to alpha's requests arrive in its own inbox: watch them from outside.
    watcher.subscribe(`${nodeInboxPrefix("alpha")}.>`, {
      callback: (_err, msg) => {
        replies.push(asErrorReply(msg.data)?.error.code ?? "ok");
      },
    });
    await watcher.flush();
    const before = Date.now();
    await (worker as unknown as { enroll(): Promise<void> }).enroll();
    await waitFor("the answer to alpha's join", () => replies.includes("rate_limited"), 5000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(worker.state, "approved");
    assert.equal(worker.connected, true, "it did not leave NATS");
    assert.ok(existsSync(join(stateOf("alpha"), NODE_JWT_FILE)), "it kept its credentials");
    assert.equal((await fleet.client.exec("alpha", "echo survived")).stdout, "survived\n");
    const node = await waitFor("alpha still online", async () => {
      const n = await fleet.client.node("alpha");
      return n.status === "online" && Date.parse(n.last_seen ?? "") > before ? n : undefined;
    });
    assert.equal(node.status, "online");
  });
});

describe("the pending queue: a cap per address, bulk reject, key fingerprints", () => {
  const fleet = new TestFleet();
  let env: NodeJS.ProcessEnv = {};
  let base = "";
  const extraWorkers: Worker[] = [];
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    base = fleet.coordinator?.url ?? "";
    env = { OCF_URL: base, OCF_TOKEN: fleet.token };
  });
  after(async () => {
    for (const worker of extraWorkers) await worker.stop().catch(() => undefined);
    await fleet.close();
  });

  const post = async (path: string, body: unknown): Promise<{ status: number; json: BulkRejectResult & { error?: { code: string; message: string } } }> => {
    const response = await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${fleet.token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as BulkRejectResult & { error?: { code: string; message: string } } };
  };

  test("joins from nine addresses cannot fill the queue: each address holds at most 50 (coordinator.max_pending_per_address), a real worker still gets in", async () => {
    const addresses = Array.from({ length: 9 }, (_, i) => `127.0.0.${i + 2}`);
    const results = await Promise.all(
      addresses.map(async (address) => {
        const statuses: number[] = [];
        // Up to 8 at once per address (the door reads at most 8 bodies at once from one address).
        for (let batch = 0; batch < 60; batch += 6) {
          const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => enrollFrom(base, signed(`flood-${address.split(".")[3]}-${batch + i}`), address)));
          statuses.push(...answers.map((a) => a.status));
        }
        return { address, statuses };
      }),
    );
    for (const { address, statuses } of results) {
      assert.equal(statuses.filter((st) => st === 200).length, 50, address);
      assert.equal(statuses.filter((st) => st === 429).length, 10, address);
    }
    const refused = await enrollFrom(base, signed("one-more"), "127.0.0.2");
    assert.match(refused.body.error?.message ?? "", /50 pending join requests already came from 127\.0\.0\.2 \(coordinator\.max_pending_per_address is 50\)/);
    const pending = await fleet.client.pending();
    assert.equal(pending.length, 450);
    assert.ok(pending.every((r) => addresses.includes(r.address ?? "")), "each request keeps the address it came from");
    // A real new worker (from 127.0.0.1) is not crowded out.
    const worker = await fleet.addApprovedWorker("real");
    assert.equal(worker.state, "approved");
  });

  test("with 450 requests pending, /health counts them and a dashboard push lists only the newest 50 with the total", async () => {
    // Before, /health (public) and every dashboard push loaded and parsed every pending request.
    assert.equal((await fleet.client.health()).nodes.pending, 450);
    const response = await fetch(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${fleet.token}` } });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = "";
    while (!/event: snapshot\ndata: .*\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const snapshot = JSON.parse(/event: snapshot\ndata: (.*)\n\n/.exec(text)?.[1] ?? "{}") as { pending?: JoinRequestView[]; pending_total?: number };
    assert.equal(snapshot.pending?.length, 50);
    assert.equal(snapshot.pending_total, 450);
  });

  test("bulk reject through the API: an empty selection is refused; by address, age and node pattern", async () => {
    const empty = await post("/api/v1/pending/reject", {});
    assert.equal(empty.status, 400);
    assert.match(empty.json.error?.message ?? "", /say which pending requests to reject/);
    assert.equal((await post("/api/v1/pending/reject", { reason: "oops" })).status, 400, "a reason alone selects nothing");
    assert.equal((await post("/api/v1/pending/reject", { all: true, address: "127.0.0.2" })).status, 400);
    assert.equal((await post("/api/v1/pending/reject", { address: "127.0.0.300" })).status, 400);
    assert.equal((await fleet.client.pending()).length, 450, "nothing was rejected by the refused requests");
    const dry = await post("/api/v1/pending/reject", { address: "127.0.0.2", dry_run: true });
    assert.equal(dry.status, 200);
    assert.equal(dry.json.count, 50);
    assert.equal(dry.json.dry_run, true);
    assert.equal((await fleet.client.pending()).length, 450, "a dry run changes nothing");
    const byAddress = await post("/api/v1/pending/reject", { address: "127.0.0.2", reason: "flood" });
    assert.equal(byAddress.json.count, 50);
    assert.ok(byAddress.json.rejected.every((r: JoinRequestView) => r.status === "rejected" && r.reason === "flood" && r.address === "127.0.0.2"));
    const byNode = await fleet.client.rejectPending({ node: "flood-3-1?" });
    assert.deepEqual(byNode.rejected.map((r) => r.node_id).sort(), Array.from({ length: 10 }, (_, i) => `flood-3-1${i}`));
    const byAge = await fleet.client.rejectPending({ older_than: "1h" });
    assert.equal(byAge.count, 0, "none is an hour old");
    assert.equal((await fleet.client.pending()).length, 390);
    const audit = await fleet.client.audit({ action: "pairing.reject", limit: 100 });
    assert.ok(audit.filter((entry) => entry.detail?.bulk === true).length >= 60, "each bulk rejection is audited");
  });

  test("bulk reject through the CLI: --address, --dry-run, --all; no selection is a usage error", async () => {
    const none = await runCli(["nodes", "reject"], { env });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /say which join requests to reject: a request id \(see ocf nodes pending\), or --all/);
    const both = await runCli(["nodes", "reject", "abc", "--all"], { env });
    assert.equal(both.code, 2);
    const allAndFilter = await runCli(["nodes", "reject", "--all", "--node", "x*"], { env });
    assert.equal(allAndFilter.code, 2);
    const badAge = await runCli(["nodes", "reject", "--older-than", "soon"], { env });
    assert.equal(badAge.code, 2);
    assert.match(badAge.stderr, /older_than must be a duration like 90s, 15m, 2h, 7d/);
    const dry = await runCli(["nodes", "reject", "--address", "127.0.0.4", "--dry-run"], { env });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^would reject 50 join requests \(dry run: nothing changed\):\nREQUEST ID\s+NODE ID\s+NAME\s+HOSTNAME\s+KEY\s+FROM/);
    assert.match(dry.stdout, /flood-4-0\s+flood-4-0\s+flood-4-0\.local\s+[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}\s+127\.0\.0\.4/);
    const json = JSON.parse((await runCli(["nodes", "reject", "--address", "127.0.0.4", "--json"], { env })).stdout) as BulkRejectResult;
    assert.equal(json.count, 50);
    assert.equal(json.dry_run, false);
    const all = await runCli(["nodes", "reject", "--all", "--reason", "spring cleaning"], { env });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^rejected 340 join requests:/);
    assert.equal((await fleet.client.pending()).length, 0);
    const nothing = await runCli(["nodes", "reject", "--all"], { env });
    assert.equal(nothing.code, 0);
    assert.equal(nothing.stdout.trim(), "no pending join request matches");
    // The single form keeps working.
    const one = await enrollFrom(base, signed("single"));
    const single = await runCli(["nodes", "reject", one.body.request_id ?? "", "--reason", "no"], { env });
    assert.equal(single.code, 0, single.stderr);
    assert.match(single.stdout, /^rejected single \(request [0-9a-f]{8}\)/);
  });

  test("two requests for one node id are told apart by their key fingerprints; the worker logs its own", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().trim().split("\n"));
        done();
      },
    });
    const config = fleet.config();
    const worker = new Worker({ config, nodeId: "twin", labels: {}, stateDir: join(fleet.dir, "workers", "twin-a"), logger: pino({ level: "info" }, sink), statusServer: false });
    extraWorkers.push(worker);
    await worker.start();
    const impostor = createUser();
    await enrollFrom(base, signed("twin", impostor), "127.0.0.7");
    const requests = await waitFor("two requests for twin", async () => {
      const list = (await fleet.client.pending()).filter((r) => r.node_id === "twin");
      return list.length === 2 ? list : undefined;
    });
    const fingerprints = requests.map((r) => r.fingerprint);
    assert.notEqual(fingerprints[0], fingerprints[1]);
    assert.ok(fingerprints.includes(keyFingerprint(impostor.getPublicKey())));
    const genuine = requests.find((r) => r.fingerprint !== keyFingerprint(impostor.getPublicKey()));
    assert.ok(genuine);
    assert.equal(genuine.fingerprint, keyFingerprint(genuine.public_key));
    assert.match(genuine.fingerprint, /^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}$/);
    // The worker's log names its request and its fingerprint, to compare with the KEY column.
    const waiting = await waitFor("the worker's waiting line", () => lines.map((line) => JSON.parse(line) as { msg: string; fingerprint?: string }).find((entry) => entry.msg.startsWith("waiting for approval")));
    assert.equal(waiting.fingerprint, genuine.fingerprint);
    assert.match(waiting.msg, new RegExp(`ocf nodes approve ${genuine.request_id}; this node's key fingerprint is ${genuine.fingerprint}`));
    const table = await runCli(["nodes", "pending"], { env });
    for (const request of requests) assert.match(table.stdout, new RegExp(`${request.request_id}\\s+twin\\s+twin\\s+\\S+\\s+${request.fingerprint}\\s+`));
    await fleet.client.approve(genuine.request_id);
    await waitFor("twin approved", () => worker.state === "approved");
    const node = await fleet.client.node("twin");
    assert.equal(node.fingerprint, genuine.fingerprint);
    const show = await runCli(["nodes", "show", "twin"], { env });
    assert.match(show.stdout, new RegExp(`^key: +${node.fingerprint}$`, "m"));
  });
});

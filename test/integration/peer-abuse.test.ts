/**
 * A node abusing what its own valid NATS credentials allow (real nats-server in operator mode, a
 * real coordinator writing its log file, real workers): the penetration test of node `evil`.
 * The coordinator answers a node only in that node's own inbox, never on a reply subject the
 * sender chose (its own pending requests, another node's subjects or inbox); a node cannot start
 * or finish another node's task attempt; oversized, over-labelled and too frequent heartbeats are
 * dropped unread; a node's joins use up only its own allowance; and the log lines a node can cause
 * are bounded.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { asErrorReply, encodeMessage } from "../../src/protocol/codec.js";
import { MAX_LABELS, PROTOCOL_VERSION, type JoinPayload } from "../../src/protocol/messages.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { subjects } from "../../src/protocol/subjects.js";
import { connectNats, type NatsConnection } from "../../src/transport/connection.js";
import { NODE_MAX_SUBSCRIPTIONS, nodeInboxPrefix } from "../../src/transport/trust.js";
import { createLogger, silentLogger } from "../../src/util/logger.js";
import { IDENTITY_FILE } from "../../src/worker/identity.js";
import { NODE_JWT_FILE } from "../../src/worker/worker.js";
import { TestFleet, waitFor } from "../helpers/fleet.js";
import { joinPayload } from "../helpers/fixtures.js";

const s = subjects();
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const EVIL_LABELS = { team: "red" };

/** A heartbeat of `nodeId`, with `extra` fields (labels, ...). */
function heartbeat(nodeId: string, seq: number, extra: Record<string, unknown> = {}): Uint8Array {
  return encodeMessage({ v: PROTOCOL_VERSION, node_id: nodeId, ts: Date.now(), seq, load: { cpu: 1, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 4 }, ...extra });
}

describe("a node with its own valid credentials abusing the coordinator", () => {
  const fleet = new TestFleet();
  const open: NatsConnection[] = [];
  const timers: NodeJS.Timeout[] = [];
  const stateOf = (nodeId: string): string => join(fleet.dir, "workers", nodeId);
  const keyOf = (nodeId: string): KeyPair => fromSeed(new TextEncoder().encode(readFileSync(join(stateOf(nodeId), IDENTITY_FILE), "utf8").trim()));
  const logLines = (): number => readFileSync(join(fleet.dir, "logs", "coordinator.log"), "utf8").split("\n").filter(Boolean).length;
  let evil: NatsConnection;
  let admin: NatsConnection;
  let evilSeq = 0;

  /** A raw NATS connection with `nodeId`'s own credentials (its seed and node.jwt), as a rogue node holds them. */
  async function connectAs(nodeId: string): Promise<NatsConnection> {
    const nc = await connectNats({
      url: fleet.nats.url,
      name: `test-as-${nodeId}`,
      logger: silentLogger(),
      credentials: {
        jwt: readFileSync(join(stateOf(nodeId), NODE_JWT_FILE), "utf8").trim(),
        seed: new TextEncoder().encode(readFileSync(join(stateOf(nodeId), IDENTITY_FILE), "utf8").trim()),
      },
      inboxPrefix: nodeInboxPrefix(nodeId),
    });
    open.push(nc);
    return nc;
  }

  /** Keep `nodeId` online from a raw connection: a plain heartbeat (no labels) every 200 ms. */
  function keepBeating(nc: NatsConnection, nodeId: string): void {
    let seq = 0;
    const beat = (): void => {
      if (!nc.isClosed()) nc.publish(s.heartbeat(nodeId), heartbeat(nodeId, nodeId === "evil" ? evilSeq++ : seq++));
    };
    beat();
    timers.push(setInterval(beat, 200));
  }

  /** Everything published on `patterns`, as a full-rights connection sees it. */
  function watch(patterns: string[]): Array<{ subject: string; body: string }> {
    const seen: Array<{ subject: string; body: string }> = [];
    for (const pattern of patterns) admin.subscribe(pattern, {
        callback: (_err, msg) => {
          seen.push({ subject: msg.subject, body: text(msg.data) });
        },
      });
    return seen;
  }

  /** A join signed by `key` claiming `nodeId` (fresh: each signed once). */
  let tsBump = 0;
  const signed = (key: KeyPair, nodeId: string, extra: Partial<JoinPayload> = {}): Uint8Array => encodeMessage(signJoinRequest(key, joinPayload(nodeId, { ts: Date.now() + (tsBump += 1), ...extra })));
  /** evil's own re-announcement, keeping its labels. */
  const evilJoin = (nodeId = "evil"): Uint8Array => signed(keyOf("evil"), nodeId, { name: nodeId, labels: EVIL_LABELS });

  /** The answer to a join over NATS sent on `nc`: its status or error code. */
  async function ask(nc: NatsConnection, data: Uint8Array): Promise<string> {
    const reply = await nc.request(s.enroll(), data, { timeout: 5000 });
    return asErrorReply(reply.data)?.error.code ?? (JSON.parse(text(reply.data)) as { status: string }).status;
  }

  before(async () => {
    await fleet.startNats();
    // A coordinator writing logs/coordinator.log (synchronously, to count its lines).
    await fleet.startCoordinator({}, [], createLogger({ name: "coordinator", level: "info", dir: join(fleet.dir, "logs"), console: "none", sync: true }));
    await fleet.addApprovedWorker("vm");
    await fleet.addApprovedWorker("evil", { labels: EVIL_LABELS });
    await fleet.addApprovedWorker("idle");
    // evil and idle continue as raw connections with their own credentials: evil attacks, idle holds a task it never runs.
    await fleet.stopWorker("evil");
    await fleet.stopWorker("idle");
    evil = await connectAs("evil");
    keepBeating(evil, "evil");
    keepBeating(await connectAs("idle"), "idle");
    admin = await fleet.connectAdmin();
    open.push(admin);
  });
  after(async () => {
    for (const timer of timers) clearInterval(timer);
    for (const nc of open) if (!nc.isClosed()) await nc.close().catch(() => undefined);
    await fleet.close();
  });

  test("joins over NATS are answered only in the inbox of the node whose key signed them; a legitimate re-announcement still is", async () => {
    // evil's own join asked in its own inbox is answered there (before evil uses up its allowance below).
    assert.equal(await ask(evil, evilJoin()), "approved");
    const aimed = ["_INBOX.aimed.1", "_INBOX_vm.aimed.1", "ocf.node.vm.exec", "ocf.node.vm.ctl", "ocf.node.vm.call", "ocf.node.vm.task"];
    const seen = watch(["_INBOX.aimed.>", "_INBOX_vm.aimed.>", "ocf.node.vm.exec", "ocf.node.vm.ctl", "ocf.node.vm.call", "ocf.node.vm.task"]);
    await admin.flush();
    const stranger = createUser();
    const messages: Array<[string, () => Uint8Array]> = [
      ["garbage", () => new TextEncoder().encode("{{{")],
      ["a bad signature", () => encodeMessage({ v: PROTOCOL_VERSION, public_key: "UABC", payload: "{}", sig: "AAAA" })],
      ["a key no member holds, claiming evil", () => signed(stranger, "evil")],
      ["a key no member holds, claiming vm", () => signed(stranger, "vm")],
      ["evil's own join", () => evilJoin()],
      ["evil's key claiming vm", () => evilJoin("vm")],
    ];
    for (const [, make] of messages) for (const reply of aimed) evil.publish(s.enroll(), make(), { reply });
    await evil.flush();
    await sleep(800);
    assert.deepEqual(seen, [], "nothing was published on a subject evil chose");

    // vm's worker re-announcing itself gets its answer in vm's inbox.
    const vmReplies = watch([`${nodeInboxPrefix("vm")}.>`]);
    await admin.flush();
    await (fleet.workers.get("vm") as unknown as { enroll(): Promise<void> }).enroll();
    const answer = await waitFor("the answer to vm's join", () => vmReplies[0], 5000);
    assert.equal((JSON.parse(answer.body) as { status?: string }).status, "approved", answer.body);
    assert.equal((await fleet.client.node("evil")).name, "evil");
  });

  test("an exec on vm succeeds while evil aims joins at the coordinator's own reply subject; each request has a reply token of its own nobody can guess", async () => {
    // The attack needed the coordinator's reply subject (predicted from Math.random): here an oracle
    // hands evil the exact one of each exec request to vm, and evil aims joins at it at once.
    const replies: string[] = [];
    let sprayed = 0;
    const oracle = admin.subscribe(s.exec("vm"), {
      callback: (_err, msg) => {
        if (!msg.reply) return;
        replies.push(msg.reply);
        for (let i = 0; i < 20; i += 1) {
          evil.publish(s.enroll(), i % 2 ? new TextEncoder().encode("garbage") : evilJoin(), { reply: msg.reply });
          sprayed += 1;
        }
      },
    });
    await admin.flush();
    try {
      for (let i = 0; i < 5; i += 1) {
        const result = await fleet.client.exec("vm", `sleep 0.3; echo ok-${i}`);
        assert.equal(result.stdout, `ok-${i}\n`);
        assert.equal(result.exit_code, 0);
      }
    } finally {
      oracle.unsubscribe();
    }
    assert.ok(sprayed >= 100, `${sprayed} joins aimed at the coordinator's reply subjects`);
    assert.equal(new Set(replies).size, replies.length, "a new reply subject for every request");
    // The coordinator's reply inbox, then a token of 122 random bits per request (nats.js used 8 characters from Math.random).
    for (const reply of replies) assert.match(reply, /^_INBOX\.[0-9a-f-]{36}\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test("task events: a node cannot start or finish another node's attempt, and is answered only in its own inbox", async () => {
    const task = await fleet.client.submitTask({ command: "true", node: "idle" });
    await waitFor("the task assigned to idle", async () => (await fleet.client.task(task.id)).state === "assigned");
    const seen = watch(["ocf.node.idle.task", "_INBOX.aimed.>", "_INBOX_idle.aimed.>"]);
    await admin.flush();
    const base = { v: PROTOCOL_VERSION, node_id: "evil", task_id: task.id, attempt: 1 };
    const tevt = s.taskEvents("evil");
    const done = encodeMessage({ ...base, type: "done", state: "succeeded", exit_code: 0, signal: null, stdout: "forged by evil\n", stderr: "", truncated: false, started_at: 1, finished_at: 2 });
    evil.publish(tevt, encodeMessage({ ...base, type: "started", ts: 1 }), { reply: "ocf.node.idle.task" });
    evil.publish(tevt, encodeMessage({ ...base, type: "output", seq: 0, stream: "stdout", data: "forged output\n" }));
    for (const reply of ["ocf.node.idle.task", "_INBOX.aimed.2", "_INBOX_idle.aimed.2"]) {
      evil.publish(tevt, done, { reply });
      evil.publish(tevt, new TextEncoder().encode("not an event"), { reply });
    }
    // Asked in its own inbox, evil is answered (the result is not recorded: the attempt is idle's).
    const own = await evil.request(tevt, done, { timeout: 5000 });
    assert.deepEqual(JSON.parse(text(own.data)), { v: PROTOCOL_VERSION, ok: true });
    await sleep(500);
    const after = await fleet.client.task(task.id);
    assert.equal(after.state, "assigned", "evil's `started` and `done` changed nothing");
    assert.equal(after.node_id, "idle");
    assert.equal(after.started_at, null);
    assert.deepEqual(
      seen.filter((m) => !m.body.includes('"type":"assign"')),
      [],
      "nothing but the coordinator's own assignments reached idle's task subject or the inboxes evil aimed at",
    );
    await fleet.client.cancelTask(task.id);

    // A real worker's results are still acknowledged in its own inbox.
    const real = await fleet.client.submitTask({ command: "echo task-ok", node: "vm" });
    const finished = await waitFor("vm's task done", async () => {
      const t = await fleet.client.task(real.id);
      return t.state === "succeeded" ? t : undefined;
    }, 15_000);
    assert.equal(finished.node_id, "vm");
    assert.equal(await fleet.client.taskOutput(real.id), "task-ok\n");
  });

  test("oversized, over-labelled and too frequent heartbeats are dropped unread; evil's labels stay; exec keeps answering", async (t) => {
    const manyLabels = (count: number, keyLength = 6): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${String(i).padStart(keyLength, "0")}`, "v"]));
    const fiftyThousand = heartbeat("evil", 0, { labels: manyLabels(50_000) });
    const oneMegabyte = heartbeat("evil", 0, { labels: manyLabels(22_000, 40) });
    assert.ok(fiftyThousand.length > 500_000 && oneMegabyte.length > 1_000_000, `${fiftyThousand.length} and ${oneMegabyte.length} bytes`);
    const tooMany = heartbeat("evil", 0, { labels: manyLabels(MAX_LABELS + 1) });
    assert.ok(tooMany.length < 4096, "small enough to be read");

    // Execs on vm while evil floods (a bounded flood: ~30 MB).
    let flooding = true;
    const latencies: number[] = [];
    const execs = (async () => {
      while (flooding || latencies.length < 3) {
        const started = Date.now();
        assert.equal((await fleet.client.exec("vm", "echo alive")).stdout, "alive\n");
        latencies.push(Date.now() - started);
      }
    })();
    for (let round = 0; round < 10; round += 1) {
      for (let i = 0; i < 3; i += 1) evil.publish(s.heartbeat("evil"), fiftyThousand);
      evil.publish(s.heartbeat("evil"), oneMegabyte);
      evil.publish(s.heartbeat("evil"), tooMany);
      await evil.flush();
    }
    // Then small valid heartbeats, far faster than a node beats.
    for (let i = 0; i < 500; i += 1) evil.publish(s.heartbeat("evil"), heartbeat("evil", evilSeq++));
    await evil.flush();
    await sleep(500);
    flooding = false;
    await execs;
    t.diagnostic(`exec latencies during the flood: ${latencies.join(", ")} ms`);
    assert.ok(Math.max(...latencies) < 5000, `exec latencies during the flood: ${latencies.join(", ")} ms`);

    const node = await fleet.client.node("evil");
    assert.deepEqual(node.labels, EVIL_LABELS, "none of the flood's labels was taken");
    assert.equal(node.status, "online");
    const metrics = await fleet.client.metrics();
    const dropped = (reason: string): number => Number(new RegExp(`^ocf_nats_dropped_total\\{reason="${reason}"\\} (\\d+)`, "m").exec(metrics)?.[1] ?? 0);
    assert.equal(dropped("heartbeat_too_large"), 40, metrics.split("\n").filter((l) => l.startsWith("ocf_nats_dropped")).join("\n"));
    assert.ok(dropped("heartbeat_too_frequent") >= 400, `${dropped("heartbeat_too_frequent")} dropped as too frequent`);
    assert.ok(dropped("heartbeat_invalid") >= 1, "the 65-label heartbeats are refused");

    // A heartbeat with MAX_LABELS labels is still taken (once the bucket has refilled).
    const sixtyFour = manyLabels(MAX_LABELS);
    await waitFor("64 labels taken", async () => {
      evil.publish(s.heartbeat("evil"), heartbeat("evil", evilSeq++, { labels: sixtyFour }));
      return Object.keys((await fleet.client.node("evil")).labels).length === MAX_LABELS;
    }, 10_000, 300);
    evil.publish(s.heartbeat("evil"), heartbeat("evil", evilSeq++, { labels: EVIL_LABELS }));
    await waitFor("evil's labels back", async () => Object.keys((await fleet.client.node("evil")).labels).length === 1, 10_000, 300);
  });

  test("evil's joins claiming vm use up only evil's own allowance: vm still re-announces itself", async () => {
    const codes: Record<string, number> = {};
    for (let i = 0; i < 30; i += 1) {
      const code = await ask(evil, evilJoin("vm"));
      codes[code] = (codes[code] ?? 0) + 1;
    }
    assert.ok((codes.rate_limited ?? 0) >= 20, JSON.stringify(codes));
    assert.equal((codes.identity_mismatch ?? 0) + (codes.rate_limited ?? 0), 30, JSON.stringify(codes));
    // evil's own re-announcement is over its allowance too.
    assert.equal(await ask(evil, evilJoin()), "rate_limited");

    const vmReplies = watch([`${nodeInboxPrefix("vm")}.>`]);
    await admin.flush();
    await (fleet.workers.get("vm") as unknown as { enroll(): Promise<void> }).enroll();
    const answer = await waitFor("the answer to vm's join", () => vmReplies[0], 5000);
    assert.equal(asErrorReply(new TextEncoder().encode(answer.body))?.error.code, undefined, answer.body);
    assert.equal((JSON.parse(answer.body) as { status?: string }).status, "approved");
  });

  test(`a node's connection holds at most ${NODE_MAX_SUBSCRIPTIONS} subscriptions`, async () => {
    const nc = await connectAs("evil");
    const errors: string[] = [];
    void (async () => {
      for await (const status of nc.status()) if (status.type === "error") errors.push(status.error.message);
    })();
    for (let i = 0; i < NODE_MAX_SUBSCRIPTIONS + 36; i += 1) nc.subscribe(`${nodeInboxPrefix("evil")}.many.${i}`);
    await nc.flush().catch(() => undefined);
    await waitFor("the server refusing subscriptions past the limit", () => errors.some((e) => /maximum subscriptions exceeded/i.test(e)), 5000).catch(() => assert.fail(`got: ${errors.join("; ")}`));
    await nc.close().catch(() => undefined);
  });

  test("log lines a node can cause are bounded: thousands of invalid messages write a few dozen lines", async (t) => {
    // evil's labels as they were (whatever an earlier test left), so the broadcast below targets it alone.
    await waitFor("evil's labels", async () => {
      evil.publish(s.heartbeat("evil"), heartbeat("evil", evilSeq++, { labels: EVIL_LABELS }));
      return JSON.stringify((await fleet.client.node("evil")).labels) === JSON.stringify(EVIL_LABELS);
    }, 10_000, 300);
    const before = logLines();
    // Invalid heartbeats: the first ones are read (and refused), the rest are too frequent.
    for (let i = 0; i < 2000; i += 1) evil.publish(s.heartbeat("evil"), new TextEncoder().encode(`garbage ${i}`));
    // Invalid and forged broadcast results while a broadcast waits for evil (its raw connection never answers it).
    const broadcast = fleet.client.broadcast("true", EVIL_LABELS, 1000);
    await sleep(300);
    for (let i = 0; i < 1000; i += 1) evil.publish(s.broadcastResult("evil"), new TextEncoder().encode(`not a result ${i}`));
    await evil.flush();
    // Joins from keys no member holds, aimed at another node's inbox.
    for (let i = 0; i < 300; i += 1) evil.publish(s.enroll(), signed(createUser(), "vm"), { reply: `_INBOX_vm.aimed.${i}` });
    await evil.flush();
    // Requests with a wrong token.
    for (let i = 0; i < 300; i += 1) {
      const response = await fetch(`${fleet.coordinator?.url}/api/v1/nodes`, { headers: { authorization: `Bearer ocf_wrong_${i}` } });
      assert.equal(response.status, 401);
      await response.arrayBuffer();
    }
    const outcome = await broadcast;
    assert.equal(outcome.results[0]?.status, "timeout");
    await sleep(500);
    const written = logLines() - before;
    t.diagnostic(`${written} coordinator log lines for 2,000 invalid heartbeats, 1,000 invalid broadcast results, 300 refused joins and 300 wrong tokens`);
    assert.ok(written <= 80, `${written} log lines for ~3,600 messages`);
    const lines = readFileSync(join(fleet.dir, "logs", "coordinator.log"), "utf8").trim().split("\n").slice(-written).map((line) => JSON.parse(line) as { msg: string; suppressed_before?: number });
    // Still said, a few times (the heartbeat lines of this minute went to the previous test's flood).
    for (const msg of ["rejected request with a wrong token", "invalid broadcast result ignored"]) {
      const said = lines.filter((line) => line.msg === msg).length;
      assert.ok(said >= 1 && said <= 10, `"${msg}" logged ${said} times`);
    }
    assert.equal((await fleet.client.exec("vm", "echo still-here")).stdout, "still-here\n");
  });
});

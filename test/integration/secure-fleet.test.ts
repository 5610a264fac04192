/**
 * The whole fleet in operator mode (what `ocf up` runs), attacked from the inside and the outside:
 * each attack must fail safely, and the fleet must keep working for everyone else.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createUser, fromSeed } from "@nats-io/nkeys";
import { connect, jwtAuthenticator, type NatsConnection, type Status } from "@nats-io/transport-node";
import { decodeMessage, encodeMessage } from "../../src/protocol/codec.js";
import { ErrorReplySchema, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { subjects } from "../../src/protocol/subjects.js";
import { nodeInboxPrefix } from "../../src/transport/trust.js";
import { NODE_JWT_FILE } from "../../src/worker/worker.js";
import { freePort } from "../../src/util/net.js";
import { TestFleet, waitFor } from "../helpers/fleet.js";
import { joinPayload } from "../helpers/fixtures.js";

const s = subjects();


describe("secure fleet: operator mode end to end, under attack", () => {
  const fleet = new TestFleet();
  const open: NatsConnection[] = [];
  const stateOf = (nodeId: string): string => join(fleet.dir, "workers", nodeId);
  const credsOf = (nodeId: string): { jwt: string; seed: Uint8Array } => ({
    jwt: readFileSync(join(stateOf(nodeId), NODE_JWT_FILE), "utf8").trim(),
    seed: new TextEncoder().encode(readFileSync(join(stateOf(nodeId), "identity.seed"), "utf8").trim()),
  });

  /** Connect as a node with stolen or saved credentials, collecting status events. */
  async function connectWith(creds: { jwt: string; seed: Uint8Array }, nodeId: string): Promise<{ nc: NatsConnection; statuses: Status[] }> {
    const nc = await connect({ servers: fleet.nats.url, authenticator: jwtAuthenticator(creds.jwt, creds.seed), inboxPrefix: nodeInboxPrefix(nodeId), maxReconnectAttempts: 0, timeout: 3000 });
    open.push(nc);
    const statuses: Status[] = [];
    void (async () => {
      for await (const status of nc.status()) statuses.push(status);
    })();
    return { nc, statuses };
  }

  const enroll = (body: unknown, query = ""): Promise<Response> =>
    fetch(`${fleet.coordinator?.url}/api/v1/enroll${query}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("alpha");
    await fleet.addApprovedWorker("bravo");
  });
  after(async () => {
    for (const nc of open) if (!nc.isClosed()) await nc.close().catch(() => undefined);
    await fleet.close();
  });

  test("the fleet runs in operator mode; node credentials are kept 0600", async () => {
    const health = await fleet.client.health();
    assert.equal(health.nats.secure, true);
    for (const file of [NODE_JWT_FILE, "identity.seed"]) assert.equal(statSync(join(stateOf("alpha"), file)).mode & 0o777, 0o600, file);
    for (const file of ["operator.nk", "system-account.nk", "fleet-account.nk"]) {
      assert.equal(statSync(join(fleet.dir, "coordinator", "trust", file)).mode & 0o777, 0o600, file);
    }
    assert.equal((await fleet.client.exec("alpha", "echo secure")).stdout, "secure\n");
  });

  test("without credentials, or with a key the fleet never approved, nothing connects", async () => {
    await assert.rejects(connect({ servers: fleet.nats.url, maxReconnectAttempts: 0, timeout: 2000 }), /Authorization Violation/);
    // Alpha's JWT with another key's seed: the server checks the JWT is bound to the key that signs.
    const thief = createUser();
    await assert.rejects(
      connect({ servers: fleet.nats.url, authenticator: jwtAuthenticator(credsOf("alpha").jwt, thief.getSeed()), maxReconnectAttempts: 0, timeout: 2000 }),
      /Authorization Violation/,
    );
    // A pending worker is not on NATS at all: it waits on the HTTP enrollment.
    const pending = await fleet.startWorker("waiting");
    await waitFor("pending", () => pending.state === "pending");
    assert.equal(pending.connected, false);
    await fleet.client.reject("waiting", "test");
    await waitFor("rejected", () => pending.state === "rejected");
    assert.equal(pending.connected, false);
  });

  test("a node's credentials reach only its own subjects: no spoofing, no eavesdropping, no commanding others", async () => {
    const watcher = await fleet.connectAdmin();
    open.push(watcher);
    const bravoCpu: number[] = [];
    watcher.subscribe(s.heartbeat("bravo"), {
      callback: (_err, msg) => {
        bravoCpu.push((JSON.parse(new TextDecoder().decode(msg.data)) as { load: { cpu: number } }).load.cpu);
      },
    });
    await watcher.flush();
    const alpha = await connectWith(credsOf("alpha"), "alpha");
    alpha.nc.subscribe(s.exec("bravo"));
    alpha.nc.subscribe("_INBOX.>");
    alpha.nc.subscribe("ocf.node.*.exec");
    alpha.nc.subscribe(`${nodeInboxPrefix("bravo")}.>`);
    alpha.nc.publish(s.heartbeat("bravo"), encodeMessage({ v: PROTOCOL_VERSION, node_id: "bravo", ts: Date.now(), seq: 1, load: { cpu: 99, memory: 99, disk: 99, running_tasks: 0, max_concurrent_tasks: 1 } }));
    alpha.nc.publish(s.exec("bravo"), encodeMessage({ v: PROTOCOL_VERSION, id: "evil", command: "touch /tmp/ocf-pwned", timeout_ms: 1000, max_output_bytes: 10 }));
    alpha.nc.publish(s.control("bravo"), encodeMessage({ v: PROTOCOL_VERSION, type: "removed", node_id: "bravo" }));
    // A forged exec result straight into an inbox (results travel only as replies to requests received).
    alpha.nc.publish("_INBOX.forged.1", encodeMessage({ v: PROTOCOL_VERSION, id: "x", node_id: "bravo", status: "ok", exit_code: 0, signal: null, stdout: "fake", stderr: "", duration_ms: 1, truncated: false }));
    await alpha.nc.flush();
    await waitFor("eight violations", () => alpha.statuses.filter((st) => st.type === "error").length >= 8, 5000);
    const violations = alpha.statuses.map((st) => (st.type === "error" ? st.error.message : "")).join("; ");
    for (const what of [
      'Subscription to "ocf.node.bravo.exec"',
      'Subscription to "_INBOX.>"',
      'Subscription to "ocf.node.*.exec"',
      'Subscription to "_INBOX_bravo.>"',
      'Publish to "ocf.node.bravo.hb"',
      'Publish to "ocf.node.bravo.exec"',
      'Publish to "ocf.node.bravo.ctl"',
      'Publish to "_INBOX.forged.1"',
    ]) {
      assert.ok(violations.includes(what), `${what} must be refused; got: ${violations}`);
    }
    await new Promise((r) => setTimeout(r, 500));
    const bravo = await fleet.client.node("bravo");
    assert.notEqual(bravo.load.cpu, 99, "the spoofed heartbeat never reached the coordinator");
    assert.ok(bravoCpu.length > 0, "bravo's own heartbeats still flow");
    assert.equal(bravoCpu.includes(99), false, "no one on NATS saw the spoofed heartbeat");
    assert.equal(fleet.workers.get("bravo")?.state, "approved", "the forged removal never reached bravo");
    assert.equal((await fleet.client.exec("bravo", "echo still-mine")).stdout, "still-mine\n");
  });

  test("over NATS a node may only re-announce itself: joins for other ids or keys are refused", async () => {
    const creds = credsOf("alpha");
    const alpha = await connectWith(creds, "alpha");
    const alphaKey = fromSeed(creds.seed);
    const ask = async (request: ReturnType<typeof signJoinRequest>): Promise<string> => {
      const reply = await alpha.nc.request(s.enroll(), encodeMessage(request), { timeout: 1500 }).catch(() => undefined);
      return reply ? decodeMessage(reply.data, ErrorReplySchema).error.code : "no answer";
    };
    // Answered in alpha's inbox: the key that signed it is alpha's.
    assert.equal(await ask(signJoinRequest(alphaKey, joinPayload("charlie"))), "identity_mismatch", "alpha's key belongs to alpha");
    // A key no member holds: refused, and answered nowhere (its reply subject is only its word).
    assert.equal(await ask(signJoinRequest(createUser(), joinPayload("charlie"))), "no answer", "a new key must enroll over HTTP");
    assert.equal(await ask(signJoinRequest(createUser(), joinPayload("bravo"))), "no answer", "bravo is bound to its own key");
    assert.equal((await fleet.client.pending()).some((request) => request.node_id === "charlie"), false);
  });

  test("the HTTP enrollment door: forged, malformed and replayed-under-another-key requests", async () => {
    const key = createUser();
    const genuine = signJoinRequest(key, joinPayload("newcomer"));
    // The payload changed after signing.
    const forged = { ...genuine, payload: genuine.payload.replace("newcomer", "bravo") };
    let response = await enroll(forged);
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: { message: string } }).error.message, /signature does not match/);
    // Someone else's valid request presented with the attacker's key.
    response = await enroll({ ...genuine, public_key: createUser().getPublicKey() });
    assert.equal(response.status, 400);
    response = await enroll({ v: PROTOCOL_VERSION, junk: true });
    assert.equal(response.status, 400);
    response = await enroll(genuine, "?wait=999");
    assert.equal(response.status, 400, "wait is bounded");
    // A join for an approved id under another key.
    response = await enroll(signJoinRequest(createUser(), joinPayload("alpha")));
    assert.equal(response.status, 409);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, "identity_mismatch");
    // A captured (replayed) join of an approved node gets a JWT bound to that node's key: useless
    // without the node's seed.
    const alphaKey = fromSeed(credsOf("alpha").seed);
    response = await enroll(signJoinRequest(alphaKey, joinPayload("alpha")));
    const replayed = (await response.json()) as { status: string; jwt: string };
    assert.equal(replayed.status, "approved");
    await assert.rejects(
      connect({ servers: fleet.nats.url, authenticator: jwtAuthenticator(replayed.jwt, createUser().getSeed()), maxReconnectAttempts: 0, timeout: 2000 }),
      /Authorization Violation/,
    );
    // The genuine request is pending and gets no credentials.
    response = await enroll(genuine);
    const body = (await response.json()) as { status: string; jwt?: string };
    assert.equal(body.status, "pending");
    assert.equal(body.jwt, undefined);
  });

  test("a removed node is cut off within seconds and its saved credentials no longer connect", async () => {
    const saved = credsOf("bravo");
    const worker = fleet.workers.get("bravo");
    const started = Date.now();
    await fleet.client.removeNode("bravo");
    await waitFor("bravo off NATS", () => worker?.connected === false && worker.state === "removed", 10_000);
    const cutAfterMs = Date.now() - started;
    assert.ok(cutAfterMs < 5000, `cut after ${cutAfterMs} ms`);
    await assert.rejects(connectWith(saved, "bravo"), /Authorization Violation/);
    const audit = await fleet.client.audit({ node: "bravo", limit: 5 });
    assert.ok(audit.some((entry) => entry.action === "nats.revoke" && entry.status === "revoked"));
  });

  test("rotate: the old credentials stop working and the node is back with new ones", async () => {
    const old = credsOf("alpha");
    const result = await fleet.client.rotate("alpha");
    assert.equal(result.secure, true);
    const fresh = await waitFor("new credentials", () => {
      try {
        const now = credsOf("alpha");
        return now.jwt !== old.jwt ? now : undefined;
      } catch {
        return undefined;
      }
    }, 15_000);
    assert.notEqual(fresh.jwt, old.jwt);
    await waitFor("alpha runs commands again", async () => (await fleet.client.exec("alpha", "echo rotated")).stdout === "rotated\n", 15_000, 200);
    assert.equal(fleet.workers.get("alpha")?.state, "approved");
    await assert.rejects(connectWith(old, "alpha"), /Authorization Violation/);
    const again = await connectWith(fresh, "alpha");
    await again.nc.flush();
  });

  // Last: it uses up this address's enrollment allowance for a minute.
  test("flooding the enrollment door from one address is cut off with 429", async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 130 && !limited; i += 1) {
      const r = await enroll({ v: PROTOCOL_VERSION });
      if (r.status === 429) limited = r;
      else await r.arrayBuffer();
    }
    assert.ok(limited, "rate limit reached within 130 requests");
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, "rate_limited");
  });
});

describe("new fleet keys: approved workers re-enroll by themselves", () => {
  let fleet: TestFleet;
  before(async () => {
    fleet = new TestFleet({ coordinator: { port: await freePort() } });
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("trust/ regenerated, server and coordinator restarted: the worker gets credentials from the new account", async () => {
    const worker = await fleet.addApprovedWorker("keeper");
    const before = readFileSync(join(fleet.dir, "workers", "keeper", NODE_JWT_FILE), "utf8");
    const port = fleet.nats.port;
    await fleet.coordinator?.stop();
    await fleet.nats.stop();
    rmSync(join(fleet.dir, "coordinator", "trust"), { recursive: true });
    rmSync(join(fleet.dir, "nats"), { recursive: true });
    await fleet.startNats(port);
    await fleet.startCoordinator();
    await waitFor("keeper runs commands again", async () => (await fleet.client.exec("keeper", "echo new-keys")).stdout === "new-keys\n", 30_000, 250);
    const after = readFileSync(join(fleet.dir, "workers", "keeper", NODE_JWT_FILE), "utf8");
    assert.notEqual(after, before);
    assert.equal(worker.state, "approved");
  });
});

describe("an open nats-server (not operator mode) still works and says so", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats(undefined, { secure: false });
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("health reports nats.secure = false; pairing and exec work", async () => {
    await fleet.addApprovedWorker("plain");
    const health = await fleet.client.health();
    assert.equal(health.nats.connected, true);
    assert.equal(health.nats.secure, false);
    assert.equal((await fleet.client.exec("plain", "echo plain")).stdout, "plain\n");
    const rotated = await fleet.client.rotate("plain");
    assert.equal(rotated.secure, false);
  });
});

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encodeUser } from "@nats-io/jwt";
import { createUser } from "@nats-io/nkeys";
import { connect, jwtAuthenticator, type NatsConnection, type Status } from "@nats-io/transport-node";
import { subjects } from "../../src/protocol/subjects.js";
import { startNatsServer, type NatsServerHandle } from "../../src/transport/nats-server.js";
import { fleetAccountJwt, issueUserJwt, loadOrCreateTrust, natsServerTrustConfig, nodeInboxPrefix, nodePermissions, pushAccountJwt, type FleetTrust } from "../../src/transport/trust.js";
import { tempDir, waitFor } from "../helpers/fleet.js";

describe("NATS operator mode: per-node permissions and revocation (real nats-server)", () => {
  const dir = tempDir();
  const s = subjects();
  let trust: FleetTrust;
  let server: NatsServerHandle;
  const open: NatsConnection[] = [];

  async function connectAs(name: string, permissions?: ReturnType<typeof nodePermissions>, options: { system?: boolean; inboxPrefix?: string } = {}) {
    const key = createUser();
    const jwt = await issueUserJwt(trust, name, key.getPublicKey(), permissions, options.system ?? false);
    const nc = await connect({ servers: server.url, authenticator: jwtAuthenticator(jwt, key.getSeed()), maxReconnectAttempts: 2, reconnectTimeWait: 200, ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}) });
    open.push(nc);
    const statuses: Status[] = [];
    void (async () => {
      for await (const status of nc.status()) statuses.push(status);
    })();
    return { nc, key, jwt, statuses };
  }

  before(async () => {
    trust = await loadOrCreateTrust(join(dir.path, "trust"));
    server = await startNatsServer({ dir: join(dir.path, "nats"), jetstream: false, extraConfig: await natsServerTrustConfig(trust, join(dir.path, "nats", "jwt")) });
  });
  after(async () => {
    for (const nc of open) if (!nc.isClosed()) await nc.close().catch(() => undefined);
    await server?.stop();
    dir.cleanup();
  });

  test("keys are kept 0600 and reused", async () => {
    for (const file of ["operator.nk", "system-account.nk", "fleet-account.nk"]) {
      assert.equal(statSync(join(dir.path, "trust", file)).mode & 0o777, 0o600, file);
    }
    const again = await loadOrCreateTrust(join(dir.path, "trust"));
    assert.equal(again.account.getPublicKey(), trust.account.getPublicKey());
  });

  test("a node can only use its own subjects; spoofing and eavesdropping are refused", async () => {
    const coordinator = await connectAs("coordinator");
    const seen: string[] = [];
    const results: string[] = [];
    coordinator.nc.subscribe(s.heartbeatAll(), {
      callback: (_err, msg) => {
        seen.push(msg.subject);
      },
    });
    coordinator.nc.subscribe(s.broadcastResultAll(), {
      callback: (_err, msg) => {
        results.push(msg.subject);
      },
    });
    await coordinator.nc.flush();

    const a = await connectAs("node-a", nodePermissions(s, "node-a"), { inboxPrefix: nodeInboxPrefix("node-a") });
    a.nc.subscribe(s.exec("node-b"));
    a.nc.subscribe(`${nodeInboxPrefix("node-b")}.>`);
    a.nc.publish(s.heartbeat("node-b"), "spoofed");
    a.nc.publish(s.exec("node-b"), "sneaky command");
    a.nc.publish(s.heartbeat("node-a"), "mine");
    a.nc.publish(s.broadcastResult("node-b"), "forged result");
    a.nc.publish(s.broadcastResult("node-a"), "my result");
    await a.nc.flush();
    await waitFor("violations reported", () => a.statuses.filter((st) => st.type === "error").length >= 5, 5000);
    const violations = a.statuses.filter((st) => st.type === "error").map((st) => (st.type === "error" ? st.error.message : ""));
    assert.ok(violations.some((m) => /Subscription to "ocf\.node\.node-b\.exec"/.test(m)), violations.join("; "));
    assert.ok(violations.some((m) => /Subscription to "_INBOX_node-b\.>"/.test(m)), violations.join("; "));
    assert.ok(violations.some((m) => /Publish to "ocf\.node\.node-b\.hb"/.test(m)), violations.join("; "));
    assert.ok(violations.some((m) => /Publish to "ocf\.node\.node-b\.exec"/.test(m)), violations.join("; "));
    assert.ok(violations.some((m) => /Publish to "ocf\.node\.node-b\.bres"/.test(m)), violations.join("; "));
    await waitFor("own heartbeat delivered", () => seen.includes(s.heartbeat("node-a")), 3000);
    assert.deepEqual(seen, [s.heartbeat("node-a")], "the spoofed heartbeat never reached the coordinator");
    await waitFor("own broadcast result delivered", () => results.includes(s.broadcastResult("node-a")), 3000);
    assert.deepEqual(results, [s.broadcastResult("node-a")], "a result on another node's subject never reached the coordinator");

    // The node can still answer a request it received (exec replies) without publish rights on inboxes.
    a.nc.subscribe(s.exec("node-a"), {
      callback: (_err, msg) => {
        msg.respond("done");
      },
    });
    await a.nc.flush();
    const reply = await coordinator.nc.request(s.exec("node-a"), "run", { timeout: 3000 });
    assert.equal(new TextDecoder().decode(reply.data), "done");
  });

  test("no credentials, or a JWT signed by someone else, cannot connect", async () => {
    await assert.rejects(connect({ servers: server.url, maxReconnectAttempts: 0, timeout: 2000 }), /Authorization Violation/);
    const foreign = await loadOrCreateTrust(join(dir.path, "foreign-trust"));
    const key = createUser();
    const jwt = await issueUserJwt(foreign, "intruder", key.getPublicKey(), nodePermissions(s, "node-a"));
    await assert.rejects(connect({ servers: server.url, authenticator: jwtAuthenticator(jwt, key.getSeed()), maxReconnectAttempts: 0, timeout: 2000 }), /Authorization Violation/);
  });

  test("an expired JWT cannot connect", async () => {
    const key = createUser();
    const expired = await encodeUser("late", key, trust.account, nodePermissions(s, "node-late"), { exp: Math.floor(Date.now() / 1000) - 60 });
    await assert.rejects(connect({ servers: server.url, authenticator: jwtAuthenticator(expired, key.getSeed()), maxReconnectAttempts: 0, timeout: 2000 }), /Authorization Violation|expired/i);
  });

  test("revocation pushed to the server cuts a live connection and refuses the reconnect", async () => {
    const victim = await connectAs("node-c", nodePermissions(s, "node-c"), { inboxPrefix: nodeInboxPrefix("node-c") });
    const system = await connectAs("system", undefined, { system: true });
    const started = Date.now();
    await pushAccountJwt(system.nc, await fleetAccountJwt(trust, { [victim.key.getPublicKey()]: Math.floor(Date.now() / 1000) + 1 }));
    await waitFor("victim disconnected", () => victim.nc.isClosed() || victim.statuses.some((st) => st.type === "disconnect"), 5000);
    assert.ok(Date.now() - started < 5000);
    await assert.rejects(connect({ servers: server.url, authenticator: jwtAuthenticator(victim.jwt, victim.key.getSeed()), maxReconnectAttempts: 0, timeout: 2000 }), /Authorization Violation/);
    // Others in the account are unaffected.
    const other = await connectAs("node-d", nodePermissions(s, "node-d"), { inboxPrefix: nodeInboxPrefix("node-d") });
    await other.nc.flush();
  });
});

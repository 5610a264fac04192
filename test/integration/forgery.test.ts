/**
 * A node answering as another, with its own valid credentials (real nats-server in operator mode,
 * real coordinator and workers): its forged broadcast results and exec replies are refused and
 * audited as `nats.forgery`, and the node it claimed to be keeps its own results. And a worker
 * whose credentials predate broadcast results on their own subject renews them by itself.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Status } from "@nats-io/transport-node";
import { ClientError } from "../../src/client/client.js";
import { encodeMessage } from "../../src/protocol/codec.js";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { subjects } from "../../src/protocol/subjects.js";
import { connectNats, type NatsConnection } from "../../src/transport/connection.js";
import { issueUserJwt, nodeInboxPrefix, nodePermissions } from "../../src/transport/trust.js";
import { silentLogger } from "../../src/util/logger.js";
import { IDENTITY_FILE } from "../../src/worker/identity.js";
import { NODE_JWT_FILE } from "../../src/worker/worker.js";
import { TestFleet, waitFor } from "../helpers/fleet.js";

const s = subjects();
/** The wire contract, spelled out: each node's own broadcast result subject. */
const resultSubject = (nodeId: string): string => `ocf.node.${nodeId}.bres`;

/** An ExecResult claiming to be from `claimed`. */
function forgedResult(id: string, claimed: string): Uint8Array {
  return encodeMessage({ v: PROTOCOL_VERSION, id, node_id: claimed, status: "ok", exit_code: 0, signal: null, stdout: "forged by evil\n", stderr: "", duration_ms: 1, truncated: false });
}

const idOf = (data: Uint8Array): string => (JSON.parse(new TextDecoder().decode(data)) as { id: string }).id;

describe("forged results: a node cannot answer as another", () => {
  const fleet = new TestFleet();
  const open: NatsConnection[] = [];
  const stateOf = (nodeId: string): string => join(fleet.dir, "workers", nodeId);
  const workdirOf = (nodeId: string): string => join(fleet.dir, "work", nodeId);

  /** A raw NATS connection with `nodeId`'s own credentials (its seed and node.jwt), collecting the server's errors. */
  async function connectAs(nodeId: string): Promise<{ nc: NatsConnection; violations: () => string }> {
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
    const statuses: Status[] = [];
    void (async () => {
      for await (const status of nc.status()) statuses.push(status);
    })();
    return { nc, violations: () => statuses.map((st) => (st.type === "error" ? st.error.message : "")).join("; ") };
  }

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    for (const id of ["vm", "evil"]) {
      mkdirSync(workdirOf(id), { recursive: true });
      await fleet.addApprovedWorker(id, { workdir: workdirOf(id) });
    }
  });
  after(async () => {
    for (const nc of open) if (!nc.isClosed()) await nc.close().catch(() => undefined);
    await fleet.close();
  });

  test("broadcast: evil's results claiming to be vm are refused and audited; vm's own result stands", async () => {
    // Everything published on vm's result subject, as an admin sees it.
    const watcher = await fleet.connectAdmin();
    open.push(watcher);
    const onVmSubject: string[] = [];
    watcher.subscribe(resultSubject("vm"), {
      callback: (_err, msg) => {
        onVmSubject.push((JSON.parse(new TextDecoder().decode(msg.data)) as { stdout: string }).stdout);
      },
    });
    await watcher.flush();

    // evil, with its own valid credentials, hears every broadcast and answers as vm every way it can.
    const evil = await connectAs("evil");
    let heard = 0;
    evil.nc.subscribe(s.broadcast("exec"), {
      callback: (_err, msg) => {
        heard += 1;
        const forged = forgedResult(idOf(msg.data), "vm");
        // The hole this guards against: answering the broadcast's reply subject as vm.
        if (msg.reply) msg.respond(forged);
        evil.nc.publish(resultSubject("evil"), forged);
        evil.nc.publish(resultSubject("vm"), forged);
        evil.nc.publish("_INBOX.forged-result", forged);
      },
    });
    // Nor may it listen to vm's commands or to anyone's results.
    evil.nc.subscribe(s.exec("vm"));
    evil.nc.subscribe(resultSubject("vm"));
    evil.nc.subscribe("ocf.node.*.bres");
    await evil.nc.flush();

    const outcome = await fleet.client.broadcast("echo real; pwd", {}, 10_000);
    assert.equal(heard, 1, "evil heard the broadcast");
    assert.deepEqual(outcome.results.map((r) => [r.node_id, r.status, r.stdout]), [
      ["evil", "ok", `real\n${workdirOf("evil")}\n`],
      ["vm", "ok", `real\n${workdirOf("vm")}\n`],
    ]);
    assert.deepEqual({ total: outcome.summary.total, ok: outcome.summary.ok }, { total: 2, ok: 2 });

    for (const what of [
      'Publish to "ocf.node.vm.bres"',
      'Publish to "_INBOX.forged-result"',
      'Subscription to "ocf.node.vm.exec"',
      'Subscription to "ocf.node.vm.bres"',
      'Subscription to "ocf.node.*.bres"',
    ]) {
      await waitFor(`the server refusing ${what}`, () => evil.violations().includes(what), 5000).catch(() => assert.fail(`${what} must be refused; got: ${evil.violations()}`));
    }
    assert.deepEqual(onVmSubject, [`real\n${workdirOf("vm")}\n`], "only vm's own result was ever on vm's subject");

    const forgery = await waitFor("the forgery in the audit trail", async () => (await fleet.client.audit({ action: "nats.forgery" })).find((entry) => entry.detail?.broadcast_id === outcome.id));
    assert.equal(forgery.actor, "node:evil");
    assert.equal(forgery.node_id, "evil");
    assert.equal(forgery.status, "forged");
    assert.deepEqual(forgery.detail, { claimed: "vm", kind: "broadcast", broadcast_id: outcome.id });

    const rows = (await fleet.client.audit({ action: "broadcast" })).filter((entry) => entry.detail?.broadcast_id === outcome.id);
    assert.deepEqual(rows.map((entry) => [entry.node_id, entry.status]).sort(), [["evil", "ok"], ["vm", "ok"]]);
  });

  test("exec and capability calls: a reply claiming to be another node fails with an error naming the claim and is audited", async () => {
    // evil's worker is stopped; its raw connection keeps it online and answers its exec requests as vm.
    await fleet.stopWorker("evil");
    const evil = await connectAs("evil");
    let seq = 0;
    const beat = (): void => evil.nc.publish(s.heartbeat("evil"), encodeMessage({ v: PROTOCOL_VERSION, node_id: "evil", ts: Date.now(), seq: seq++, load: { cpu: 0, memory: 0, disk: 0, running_tasks: 0, max_concurrent_tasks: 4 } }));
    beat();
    const beating = setInterval(beat, 200);
    try {
      evil.nc.subscribe(s.exec("evil"), {
        callback: (_err, msg) => {
          msg.respond(forgedResult(idOf(msg.data), "vm"));
        },
      });
      await evil.nc.flush();
      const lastVmEntry = Math.max(0, ...(await fleet.client.audit({ node: "vm" })).map((entry) => entry.id));

      const refused = await fleet.client.exec("evil", "echo hi").then(
        () => assert.fail("a forged exec reply must not be accepted"),
        (error: unknown) => error,
      );
      assert.ok(refused instanceof ClientError, String(refused));
      assert.equal(refused.code, "internal");
      assert.match(refused.message, /node "evil" answered claiming to be node "vm"/);

      const forgery = await waitFor("the exec forgery in the audit trail", async () => (await fleet.client.audit({ action: "nats.forgery" })).find((entry) => entry.detail?.kind === "exec"));
      assert.equal(forgery.actor, "node:evil");
      assert.equal(forgery.node_id, "evil");
      assert.equal(forgery.status, "forged");
      assert.equal(forgery.detail?.claimed, "vm");
      assert.equal(typeof forgery.detail?.exec_id, "string");
      assert.deepEqual((await fleet.client.audit({ node: "vm" })).filter((entry) => entry.id > lastVmEntry), [], "nothing was recorded as vm's");
      const exec = (await fleet.client.audit({ action: "exec", node: "evil" }))[0];
      assert.equal(exec?.status, "internal", "the exec is recorded as evil's, failed");

      // A capability call (here system information) answered as vm is refused the same way.
      evil.nc.subscribe(s.call("evil"), {
        callback: (_err, msg) => {
          const id = (JSON.parse(new TextDecoder().decode(msg.data)) as { id: string }).id;
          msg.respond(encodeMessage({ v: PROTOCOL_VERSION, id, node_id: "vm", duration_ms: 1, json: { hostname: "forged" } }));
        },
      });
      await evil.nc.flush();
      const call = await fleet.client.info("evil").then(
        () => assert.fail("a forged call reply must not be accepted"),
        (error: unknown) => error,
      );
      assert.ok(call instanceof ClientError, String(call));
      assert.match(call.message, /node "evil" answered claiming to be node "vm"/);
      const callForgery = await waitFor("the call forgery in the audit trail", async () => (await fleet.client.audit({ action: "nats.forgery" })).find((entry) => entry.detail?.kind === "call"));
      assert.equal(callForgery.actor, "node:evil");
      assert.equal(callForgery.detail?.claimed, "vm");
    } finally {
      clearInterval(beating);
    }
  });

  test("a worker holding credentials from before broadcast results had their own subject renews them when refused; its result still arrives", async () => {
    for (const nc of open.splice(0)) await nc.close().catch(() => undefined);
    const workdir = workdirOf("elder");
    mkdirSync(workdir, { recursive: true });
    const options = { workdir, labels: { gen: "old" } };
    await fleet.addApprovedWorker("elder", options);
    await fleet.stopWorker("elder");
    // The credentials an older coordinator issued: the same, without publishing on ocf.node.elder.bres.
    const jwtPath = join(stateOf("elder"), NODE_JWT_FILE);
    const publicKey = (JSON.parse(readFileSync(join(stateOf("elder"), "node.json"), "utf8")) as { public_key: string }).public_key;
    const old = nodePermissions(subjects(), "elder");
    old.pub.allow = old.pub.allow.filter((subject) => subject !== resultSubject("elder"));
    assert.equal(old.pub.allow.length, nodePermissions(subjects(), "elder").pub.allow.length - 1);
    const oldJwt = await issueUserJwt((await fleet.trust()).trust, "elder", publicKey, old);
    writeFileSync(jwtPath, `${oldJwt}\n`, { mode: 0o600 });

    const elder = await fleet.startWorker("elder", options);
    await waitFor("elder connected and approved with its old credentials", async () => elder.state === "approved" && elder.connected && (await fleet.client.node("elder")).status === "online");
    assert.equal(readFileSync(jwtPath, "utf8").trim(), oldJwt, "nothing refused yet: still the old credentials");

    // Its result is refused by the server, it renews its credentials and sends the result again.
    const outcome = await fleet.client.broadcast("echo upgraded; pwd", { gen: "old" }, 10_000);
    assert.deepEqual(outcome.results.map((r) => [r.node_id, r.status, r.stdout]), [["elder", "ok", `upgraded\n${workdir}\n`]]);
    const renewed = readFileSync(jwtPath, "utf8").trim();
    assert.notEqual(renewed, oldJwt, "the worker fetched new credentials");
    const claims = JSON.parse(Buffer.from(renewed.split(".")[1] ?? "", "base64url").toString("utf8")) as { nats: { pub: { allow: string[] } } };
    assert.ok(claims.nats.pub.allow.includes(resultSubject("elder")), claims.nats.pub.allow.join(", "));

    const again = await fleet.client.broadcast("echo again", { gen: "old" }, 10_000);
    assert.deepEqual(again.results.map((r) => [r.node_id, r.status, r.stdout]), [["elder", "ok", "again\n"]]);
    assert.ok(again.summary.duration_ms < 5000, `${again.summary.duration_ms} ms`);
  });
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ClientError } from "../../src/client/client.js";
import { runCli, TestFleet, waitFor } from "../helpers/fleet.js";

describe("audit trail", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
  });
  after(() => fleet.close());

  test("pairing decisions, exec, broadcast, policy refusals and bad tokens are all recorded", async () => {
    await fleet.addApprovedWorker("audited", { worker: { exec_policy: "allowlist", exec_allowlist: ["echo *"] } });
    await fleet.startWorker("unwanted");
    const request = await waitFor("pending", async () => (await fleet.client.pending()).find((r) => r.node_id === "unwanted"));
    await fleet.client.reject(request.request_id, "not ours");
    await fleet.client.exec("audited", "echo audited run");
    await assert.rejects(fleet.client.exec("audited", "cat /etc/shadow"), (error: Error) => error instanceof ClientError && error.code === "policy_denied");
    await assert.rejects(fleet.client.exec("ghost", "true"), (error: Error) => error instanceof ClientError && error.code === "node_not_found");
    await fleet.client.broadcast("echo everyone");
    const wrong = await fetch(`${fleet.coordinator?.url}/api/v1/nodes`, { headers: { authorization: "Bearer ocf_not_the_token" } });
    assert.equal(wrong.status, 401);

    const entries = await fleet.client.audit({ limit: 100 });
    const summary = entries.map((e) => `${e.actor} ${e.action} ${e.node_id ?? "-"} ${e.status ?? "-"}`).reverse();
    assert.deepEqual(summary, [
      "unknown pairing.pending audited pending",
      "admin pairing.approve audited approved",
      "unknown pairing.pending unwanted pending",
      "admin pairing.reject unwanted rejected",
      "coordinator nats.revoke unwanted revoked",
      "admin exec audited ok",
      "admin exec audited policy_denied",
      "admin exec ghost node_not_found",
      "admin broadcast audited ok",
      "unknown auth.denied - unauthorized",
    ]);
    const exec = entries.find((e) => e.action === "exec" && e.status === "ok");
    assert.equal(exec?.command, "echo audited run");
    assert.equal(exec?.exit_code, 0);
    assert.ok((exec?.duration_ms ?? -1) >= 0);
    const denied = entries.find((e) => e.action === "auth.denied");
    assert.equal(denied?.detail?.reason, "wrong token");
    assert.equal(denied?.detail?.path, "/api/v1/nodes");

    // Filters.
    assert.deepEqual((await fleet.client.audit({ node: "unwanted" })).map((e) => e.action), ["nats.revoke", "pairing.reject", "pairing.pending"]);
    assert.equal((await fleet.client.audit({ action: "exec" })).length, 3);
    assert.equal((await fleet.client.audit({ action: "exec", limit: 1 }))[0]?.node_id, "ghost");
    assert.equal((await fleet.client.audit({ since: "1h" })).length, 10);
    assert.equal((await fleet.client.audit({ until: "2000-01-01T00:00:00Z" })).length, 0);
    await assert.rejects(fleet.client.audit({ since: "yesterday-ish" }), (error: Error) => error instanceof ClientError && error.code === "bad_request");
    await assert.rejects(fleet.client.audit({ limit: 5000 }), (error: Error) => error instanceof ClientError && error.code === "bad_request");

    // The same trail as JSON lines in logs/audit.log, and no secret in it.
    const lines = readFileSync(join(fleet.dir, "logs", "audit.log"), "utf8").trim().split("\n");
    assert.equal(lines.length, 10);
    const text = lines.join("\n");
    assert.ok(!text.includes(fleet.token), "the admin token never reaches the audit log");
    assert.ok(!text.includes("ocf_not_the_token"), "a presented wrong token is not logged either");
    assert.ok(lines.every((line) => typeof (JSON.parse(line) as { action?: string }).action === "string"));
  });

  test("ocf audit prints a table and filters", async () => {
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const result = await runCli(["audit", "--action", "exec"], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^TIME\s+ACTOR\s+ACTION\s+NODE/m);
    assert.match(result.stdout, /admin\s+exec\s+audited\s+ok\s+0\s+\d+\s+echo audited run/);
    const json = await runCli(["audit", "--node", "unwanted", "--json"], { env });
    assert.deepEqual((JSON.parse(json.stdout) as Array<{ action: string }>).map((e) => e.action), ["nats.revoke", "pairing.reject", "pairing.pending"]);
    const bad = await runCli(["audit", "--limit", "0"], { env });
    assert.equal(bad.code, 2);
  });
});

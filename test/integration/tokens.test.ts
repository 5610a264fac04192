import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { ClientError, FleetClient } from "../../src/client/client.js";
import { runCli, TestFleet, waitFor } from "../helpers/fleet.js";

async function status(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    assert.ok(error instanceof ClientError, String(error));
    return `${error.status} ${error.code}`;
  }
}

describe("scoped API tokens", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("box");
  });
  after(() => fleet.close());

  const as = (token: string): FleetClient => new FleetClient({ url: fleet.coordinator?.url ?? "", token });

  test("read can look, exec can run, admin can decide; each refusal is a clear 403", async () => {
    const read = await fleet.client.createToken("dash", "read");
    const exec = await fleet.client.createToken("ci-bot", "exec");
    const admin = await fleet.client.createToken("ops", "admin");
    assert.match(read.token, /^ocft_[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(read.scope, "read");

    const reader = as(read.token);
    assert.equal((await reader.nodes()).length, 1);
    assert.equal((await reader.health()).status, "ok");
    assert.equal(await status(reader.audit()), "ok");
    assert.equal(await status(reader.exec("box", "touch /tmp/ocf-read-token-ran")), "403 forbidden");
    assert.equal(await status(reader.broadcast("true")), "403 forbidden");
    assert.equal(await status(reader.removeNode("box")), "403 forbidden");
    assert.equal(await status(reader.tokens()), "403 forbidden");
    const refusal = await reader.exec("box", "true").catch((error: ClientError) => error);
    assert.match((refusal as ClientError).message, /token:dash has scope "read"; POST \/api\/v1\/exec needs "exec"/);

    const runner = as(exec.token);
    assert.equal((await runner.exec("box", "echo via-exec-token")).stdout, "via-exec-token\n");
    assert.equal((await runner.broadcast("true")).summary.ok, 1);
    assert.equal(await status(runner.approve("whatever")), "403 forbidden");
    assert.equal(await status(runner.createToken("sneaky", "admin")), "403 forbidden");

    const operator = as(admin.token);
    await fleet.startWorker("later");
    const pending = await waitFor("pending", async () => (await operator.pending()).find((r) => r.node_id === "later"));
    assert.equal((await operator.approve(pending.request_id)).request.status, "approved");
    assert.equal((await operator.tokens()).length, 3);

    // The audit trail names the token that acted, and records the refusals.
    const audit = await fleet.client.audit({ limit: 200 });
    assert.ok(audit.some((e) => e.action === "exec" && e.actor === "token:ci-bot" && e.status === "ok"));
    assert.ok(audit.some((e) => e.action === "pairing.approve" && e.actor === "token:ops"));
    assert.ok(audit.some((e) => e.action === "auth.denied" && e.actor === "token:dash" && e.status === "forbidden"));
    assert.ok(audit.some((e) => e.action === "token.create" && e.actor === "admin" && e.detail?.name === "ci-bot"));
  });

  test("revoked, forged and malformed tokens are refused; secrets are stored only as hashes", async () => {
    const created = await fleet.client.createToken("temp", "exec");
    const user = as(created.token);
    assert.equal((await user.exec("box", "echo before")).stdout, "before\n");
    const revoked = await fleet.client.revokeToken("temp");
    assert.ok(revoked.revoked_at);
    assert.equal(await status(user.exec("box", "echo after")), "401 unauthorized");
    assert.equal(await status(fleet.client.revokeToken("temp")), "409 conflict");
    assert.equal(await status(fleet.client.revokeToken("nope")), "404 not_found");
    assert.equal(await status(fleet.client.createToken("dash", "read")), "409 conflict");

    const [id] = created.token.slice(5).split(".");
    for (const forged of [`ocft_${id}.${"A".repeat(43)}`, "ocft_00000000.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", `${created.token}x`, "ocft_", "Bearer"]) {
      assert.equal(await status(as(forged).nodes()), "401 unauthorized", forged);
    }
    const db = new Database(join(fleet.dir, "cluster.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT * FROM tokens").all() as Array<Record<string, unknown>>;
      const dump = JSON.stringify(rows);
      assert.ok(!dump.includes(created.token.split(".")[1] as string), "the secret is not in the database");
      assert.ok(rows.every((row) => typeof row.hash === "string" && /^[0-9a-f]{64}$/.test(row.hash as string)));
    } finally {
      db.close();
    }
    const audit = readFileSync(join(fleet.dir, "logs", "audit.log"), "utf8");
    assert.ok(!audit.includes(created.token.split(".")[1] as string), "the secret is not in the audit log");
  });

  test("bad token requests get clear 400s", async () => {
    assert.equal(await status(fleet.client.createToken("bad name!", "read")), "400 bad_request");
    assert.equal(await status(fleet.client.createToken("x", "root" as "read")), "400 bad_request");
  });

  test("ocf token create | list | revoke", async () => {
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const created = await runCli(["token", "create", "--name", "cli-made", "--scope", "read"], { env });
    assert.equal(created.code, 0, created.stderr);
    const secret = /^(ocft_\S+)$/m.exec(created.stdout)?.[1];
    assert.ok(secret);
    const listed = await runCli(["token", "list"], { env });
    assert.match(listed.stdout, /cli-made\s+read/);
    assert.ok(!listed.stdout.includes(secret.split(".")[1] as string));
    const withIt = await runCli(["nodes", "list"], { env: { OCF_URL: env.OCF_URL, OCF_TOKEN: secret } });
    assert.equal(withIt.code, 0);
    const forbidden = await runCli(["exec", "box", "true"], { env: { OCF_URL: env.OCF_URL, OCF_TOKEN: secret } });
    assert.equal(forbidden.code, 4);
    assert.match(forbidden.stderr, /needs "exec"/);
    const bad = await runCli(["token", "create", "--name", "x", "--scope", "root"], { env });
    assert.equal(bad.code, 2);
    const revoke = await runCli(["token", "revoke", "cli-made"], { env });
    assert.equal(revoke.code, 0);
    const after = await runCli(["nodes", "list"], { env: { OCF_URL: env.OCF_URL, OCF_TOKEN: secret } });
    assert.equal(after.code, 4);
  });
});

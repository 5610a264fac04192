/**
 * The enrollment door under abuse, on a real fleet: hostile text in join fields, old and replayed
 * signed joins (HTTP and NATS), a flood of joins over NATS from an approved node's credentials,
 * the pending queue filled from several addresses, the bulk reject and key fingerprints.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import type { JoinPayload, JoinRequest } from "../../src/protocol/messages.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { controlCharacterAt } from "../../src/protocol/text.js";
import { runCli, TestFleet } from "../helpers/fleet.js";
import { joinPayload } from "../helpers/fixtures.js";

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

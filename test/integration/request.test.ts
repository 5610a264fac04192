/**
 * transport/request.ts against a real nats-server: each request is answered on a token nobody can
 * guess (122 random bits) in its connection's one reply inbox, under the connection's inbox prefix;
 * no responders, timeouts, late replies and a closed connection each end a request the right way.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectNats, type NatsConnection } from "../../src/transport/connection.js";
import { request, RequestFailed } from "../../src/transport/request.js";
import { silentLogger } from "../../src/util/logger.js";
import { TestFleet } from "../helpers/fleet.js";

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}";

describe("request(): reply subjects nobody can guess", () => {
  const fleet = new TestFleet();
  let client: NatsConnection;
  let server: NatsConnection;
  const replies: string[] = [];

  before(async () => {
    await fleet.startNats();
    client = await fleet.connectAdmin();
    server = await fleet.connectAdmin();
    server.subscribe("echo", {
      callback: (_err, msg) => {
        replies.push(msg.reply ?? "");
        msg.respond(msg.data);
      },
    });
    await server.flush();
  });
  after(async () => {
    for (const nc of [client, server]) if (!nc.isClosed()) await nc.close();
    await fleet.close();
  });

  test("each request has its own random token in the connection's one reply inbox; 1,000 at once each get their own answer", async () => {
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => request(client, "echo", new TextEncoder().encode(`n${i}`), 5000)));
    answers.forEach((answer, i) => assert.equal(new TextDecoder().decode(answer), `n${i}`));
    assert.equal(new Set(replies).size, replies.length, "no token twice");
    const base = replies[0]?.slice(0, replies[0].lastIndexOf(".") + 1) ?? "";
    for (const reply of replies) {
      assert.match(reply, new RegExp(`^_INBOX\\.${UUID}\\.${UUID}$`));
      assert.ok(reply.startsWith(base), "one inbox (one subscription) per connection");
    }
  });

  test("a node's connection asks under its own inbox prefix", async () => {
    const credentials = await (await fleet.trust()).serviceCredentials("as-node");
    const nc = await connectNats({ url: fleet.nats.url, name: "as-node", logger: silentLogger(), credentials, inboxPrefix: "_INBOX_vm" });
    try {
      replies.length = 0;
      assert.equal(new TextDecoder().decode(await request(nc, "echo", new TextEncoder().encode("mine"), 5000)), "mine");
      assert.match(replies[0] ?? "", new RegExp(`^_INBOX_vm\\.${UUID}\\.${UUID}$`));
    } finally {
      await nc.close();
    }
  });

  test("nobody listening: no_responders at once", async () => {
    const started = Date.now();
    await assert.rejects(request(client, "nobody.here", new Uint8Array(0), 5000), (error: unknown) => error instanceof RequestFailed && error.reason === "no_responders");
    assert.ok(Date.now() - started < 2000);
  });

  test("no answer in time: timeout; the late answer is ignored and the next request works", async () => {
    const slow = server.subscribe("slow", {
      callback: (_err, msg) => {
        setTimeout(() => msg.respond(new TextEncoder().encode("late")), 300);
      },
    });
    await server.flush();
    await assert.rejects(request(client, "slow", new Uint8Array(0), 100), (error: unknown) => error instanceof RequestFailed && error.reason === "timeout" && /within 100 ms/.test(error.message));
    await new Promise((r) => setTimeout(r, 400));
    slow.unsubscribe();
    assert.equal(new TextDecoder().decode(await request(client, "echo", new TextEncoder().encode("after"), 5000)), "after");
  });

  test("the connection closes: what waits fails as closed at once, and later requests too", async () => {
    const nc = await fleet.connectAdmin();
    server.subscribe("never", { callback: () => undefined });
    await server.flush();
    const waiting = request(nc, "never", new Uint8Array(0), 30_000);
    await nc.flush();
    const started = Date.now();
    await nc.close();
    await assert.rejects(waiting, (error: unknown) => error instanceof RequestFailed && error.reason === "closed");
    assert.ok(Date.now() - started < 2000);
    await assert.rejects(request(nc, "echo", new Uint8Array(0), 1000), (error: unknown) => error instanceof RequestFailed && error.reason === "closed");
  });
});

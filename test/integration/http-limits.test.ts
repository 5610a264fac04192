/**
 * What a stranger can make the coordinator read: body size and type per route without a token,
 * huge bodies at the enrollment door (the coordinator as a child process, its memory read from
 * /proc), error replies that never echo the body, and slow bodies that are cut off. Every route is
 * walked from the coordinator's own route table.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { UNAUTHENTICATED_LIMITS, type DeclaredRoute } from "../../src/coordinator/http/access.js";
import { MAX_BODY_BYTES, MAX_ENROLL_BODY_BYTES } from "../../src/coordinator/http/server.js";
import { freePort } from "../../src/util/net.js";
import { TestFleet } from "../helpers/fleet.js";

interface Answer {
  status: number;
  body: string;
  ms: number;
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
}

/** Send `body`, or `body` bytes generated as they go (never held in memory), and read the answer. */
function sendBody(base: string, method: string, path: string, headers: Record<string, string>, body: Buffer | number, fill = 0x78): Promise<Answer> {
  const size = typeof body === "number" ? body : body.length;
  const url = new URL(base);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (answer: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { ...headers, "content-length": String(size) } }, (res: IncomingMessage) => {
      let text = "";
      res.on("data", (chunk: Buffer) => {
        if (text.length < 100_000) text += chunk.toString();
      });
      res.on("end", () => settle({ status: res.statusCode ?? 0, body: text, ms: Date.now() - started }));
      res.on("error", () => settle({ status: res.statusCode ?? 0, body: text, ms: Date.now() - started }));
    });
    // The server may answer and close before the whole body went out (that is the point): a reset
    // without an answer counts as status 0, "connection closed".
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE" || error.code === "ECONNRESET") setTimeout(() => settle({ status: 0, body: error.code ?? "", ms: Date.now() - started }), 500);
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(error);
      }
    });
    const timer = setTimeout(() => {
      req.destroy();
      if (!settled) {
        settled = true;
        reject(new Error(`${method} ${path}: no answer in 30 s`));
      }
    }, 30_000);
    const chunk = typeof body === "number" ? Buffer.alloc(64 * 1024, fill) : body;
    let sent = 0;
    const pump = (): void => {
      while (sent < size && !settled && !req.destroyed) {
        const part = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += part.length;
        if (!req.write(part)) {
          req.once("drain", pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe("HTTP limits for callers without a token", { timeout: 180_000 }, () => {
  const fleet = new TestFleet({ log: { level: "warn" } });
  let url = "";
  let coordinator: ChildProcess;

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    await fleet.startNats();
    coordinator = await fleet.spawnCoordinator(url, fleet.configFile("coordinator", { coordinator: { port } }));
  });
  after(async () => {
    if (coordinator && coordinator.exitCode === null) coordinator.kill("SIGKILL");
    await fleet.close();
  });

  test("the issue's reproduction: 20 MB and 60 MB of bytes at /api/v1/enroll are refused at once, and the coordinator stays small and alive", async () => {
    const pid = coordinator.pid as number;
    const before = rssMb(pid);
    for (const size of [20_000_000, 60_000_000]) {
      for (const type of ["application/octet-stream", "application/json", "text/plain"]) {
        const answer = await sendBody(url, "POST", "/api/v1/enroll", { "content-type": type }, size, 0);
        // Bytes: 400 naming JSON; JSON or text: 413. Either way before the body is read.
        // (0: the coordinator closed the connection after answering, before the client read it.)
        assert.ok([0, 400, 413].includes(answer.status), `${type} ${size}: ${answer.status} ${answer.body.slice(0, 200)}`);
        assert.ok(answer.body.length < 2000, `the refusal is short (${answer.body.length} bytes)`);
        assert.ok(answer.ms < 10_000, `answered in ${answer.ms} ms`);
      }
    }
    assert.equal(coordinator.exitCode, null, "coordinator alive");
    const grown = rssMb(pid) - before;
    assert.ok(grown < 100, `coordinator RSS grew ${grown.toFixed(1)} MB`);
    assert.equal((await fleet.client.health()).status, "ok");
  });

  test("a validation error names the problem without echoing the body", async () => {
    const keys = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`k${i}${"y".repeat(8)}`, i]));
    const answer = await sendJson(url, "/api/v1/enroll", { v: 1, public_key: "U", payload: "{}", sig: "s", ...keys });
    assert.equal(answer.status, 400);
    assert.ok(answer.body.length < 2000, `${answer.body.length} bytes`);
    assert.match(answer.body, /unknown keys .* and 2995 more/);
  });

  test(`slow bodies without a token: at most ${UNAUTHENTICATED_LIMITS.perAddress} per address and ${UNAUTHENTICATED_LIMITS.total} in all (the oldest giving way), each cut off after ${UNAUTHENTICATED_LIMITS.bodyDeadlineMs / 1000} s`, async () => {
    const { port } = new URL(url);
    const sockets: Socket[] = [];
    const statuses: string[] = [];
    const closed: number[] = [];
    const started = Date.now();
    /** Open a request that promises a 1000-byte join and sends one byte. */
    const trickle = (localAddress: string): Promise<void> =>
      new Promise((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: Number(port), localAddress }, () => {
          socket.write(`POST /api/v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
          resolve();
        });
        let answer = "";
        socket.on("data", (d: Buffer) => {
          answer += d.toString();
          const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
          if (status) statuses.push(`${localAddress} ${status}`);
        });
        socket.on("close", () => closed.push(Date.now() - started));
        socket.on("error", () => undefined);
        sockets.push(socket);
      });
    // Nine addresses, nine sockets each: 81 tries for 64 places, 8 per address.
    for (let a = 2; a <= 10; a += 1) for (let i = 0; i < 9; i += 1) await trickle(`127.0.0.${a}`);
    await new Promise((r) => setTimeout(r, 500));
    // The ninth of each address is refused (429); the last address's eight took the places of the
    // eight oldest trickles, whose connections were closed.
    assert.equal(statuses.filter((s) => s.endsWith(" 429")).length, 9, `the ninth of each address is refused: ${statuses.join(", ")}`);
    assert.equal(statuses.filter((s) => s.endsWith(" 503")).length, 0, `nobody finds the door shut: ${statuses.join(", ")}`);
    assert.equal(closed.length, 9 + 8, `closed so far: ${closed.length}`);
    // A real join (its whole body at once) gets in while the door is full of trickles: it takes the
    // place of the oldest one.
    const during = await sendJson(url, "/api/v1/enroll", { v: 1, public_key: "U", payload: "{}", sig: "s" });
    assert.equal(during.status, 400, `answered, not shut out: ${during.body}`);
    // After the deadline every trickling socket is closed and joins work again.
    await new Promise((r) => setTimeout(r, UNAUTHENTICATED_LIMITS.bodyDeadlineMs + 1500));
    assert.equal(closed.length, sockets.length, `closed ${closed.length} of ${sockets.length}`);
    const after = await sendJson(url, "/api/v1/enroll", { v: 1, public_key: "U", payload: "{}", sig: "s" });
    assert.equal(after.status, 400, after.body);
    assert.equal(coordinator.exitCode, null);
  });
});

function sendJson(base: string, path: string, value: unknown): Promise<Answer> {
  return sendBody(base, "POST", path, { "content-type": "application/json" }, Buffer.from(JSON.stringify(value)));
}

describe("every route, without a token, refuses bodies it would not take before reading them", () => {
  const fleet = new TestFleet();
  let url = "";
  let routes: DeclaredRoute[] = [];
  before(async () => {
    await fleet.startNats();
    const coordinator = await fleet.startCoordinator();
    url = coordinator.url;
    routes = coordinator.routes().filter((route) => route.method !== "GET" && route.method !== "HEAD");
  });
  after(() => fleet.close());

  test("oversized JSON, raw bytes and odd types: 401 for every route that needs a token, 413/415 at the public ones; never a 5xx, never a long answer", async () => {
    const failures: string[] = [];
    const cases: Array<{ type: string; size: number }> = [
      { type: "application/json", size: MAX_BODY_BYTES + 1 },
      { type: "application/octet-stream", size: 2 * 1024 * 1024 },
      { type: "text/plain", size: MAX_BODY_BYTES + 1 },
      { type: "application/x-www-form-urlencoded", size: 1024 },
      { type: "multipart/form-data; boundary=x", size: 1024 },
    ];
    for (const route of routes) {
      const path = route.url.replace(/:[A-Za-z]+/g, "x");
      for (const { type, size } of cases) {
        const answer = await sendBody(url, route.method, path, { "content-type": type }, size);
        // A public route refuses a type it does not parse (400 naming JSON) or a size (413) before reading.
        const expected = route.scope !== "public" ? [401] : type === "application/json" || type === "text/plain" ? [413] : [400];
        if (!expected.includes(answer.status)) failures.push(`${route.method} ${path} ${type} ${size}: ${answer.status} (expected ${expected.join("/")}) ${answer.body.slice(0, 160)}`);
        if (answer.body.length > 2000) failures.push(`${route.method} ${path} ${type}: a ${answer.body.length}-byte answer`);
      }
    }
    assert.deepEqual(failures, []);
    // A join just over its own limit (smaller than other routes' limit) is refused too.
    const join = await sendBody(url, "POST", "/api/v1/enroll", { "content-type": "application/json" }, MAX_ENROLL_BODY_BYTES + 1);
    assert.equal(join.status, 413, join.body);
  });

  test("with a token, raw bytes are taken by the upload route alone", async () => {
    const headers = { authorization: `Bearer ${fleet.token}`, "content-type": "application/octet-stream" };
    for (const route of routes) {
      if (route.scope === "public") continue;
      const path = route.url.replace(/:[A-Za-z]+/g, "no-such-thing");
      const answer = await sendBody(url, route.method, `${path}?path=x`, headers, Buffer.from("abc"));
      if (route.method === "PUT") assert.equal(answer.status, 404, `${route.method} ${path}: ${answer.body}`);
      else {
        assert.equal(answer.status, 400, `${route.method} ${path}: ${answer.status} ${answer.body}`);
        assert.match(answer.body, /must be JSON/);
      }
    }
  });
});

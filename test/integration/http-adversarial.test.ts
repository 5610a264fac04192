import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { TestFleet } from "../helpers/fleet.js";

/** Every route, with a hostile id where it takes one. */
const ROUTES: Array<{ method: string; path: (id: string) => string; body?: unknown }> = [
  { method: "GET", path: (id) => `/api/v1/nodes/${id}` },
  { method: "DELETE", path: (id) => `/api/v1/nodes/${id}` },
  { method: "POST", path: (id) => `/api/v1/pending/${id}/approve`, body: {} },
  { method: "POST", path: (id) => `/api/v1/pending/${id}/reject`, body: {} },
  { method: "DELETE", path: (id) => `/api/v1/tokens/${id}` },
  { method: "POST", path: (id) => `/api/v1/nodes/${id}/rotate`, body: {} },
  { method: "POST", path: (id) => `/api/v1/nodes/${id}/screenshot`, body: {} },
  { method: "GET", path: (id) => `/api/v1/nodes/${id}/info` },
  { method: "GET", path: (id) => `/api/v1/nodes/${id}/file?path=x` },
  { method: "GET", path: (id) => `/api/v1/files/${id}` },
];

const HOSTILE_IDS = [
  "..%2F..%2F..%2Fetc%2Fpasswd",
  "%2e%2e%2f%2e%2e%2fetc%2fshadow",
  "....//....//etc",
  "%00",
  "a%0Ab",
  "%27%3B%20DROP%20TABLE%20nodes%3B--",
  "x".repeat(5000),
  "%F0%9F%92%A5",
];

describe("hostile HTTP input on every endpoint", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("target");
  });
  after(() => fleet.close());

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${fleet.coordinator?.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${fleet.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text };
  };

  test("traversal, NUL, injection and huge ids: a JSON 4xx, never a 500, never a file read", async () => {
    for (const route of ROUTES) {
      for (const id of HOSTILE_IDS) {
        const { status, body } = await call(route.method, route.path(id), route.body);
        assert.ok(status >= 400 && status < 500, `${route.method} ${route.path(id).slice(0, 80)} → ${status}`);
        const parsed = JSON.parse(body) as { error?: { code: string } };
        assert.ok(parsed.error?.code, `error body for ${route.method} ${route.path(id).slice(0, 60)}`);
        assert.ok(!body.includes("root:"), "no file content leaks");
      }
    }
    // The node and the database are intact afterwards.
    const nodes = await fleet.client.nodes();
    assert.deepEqual(nodes.map((n) => n.id), ["target"]);
    assert.equal((await fleet.client.exec("target", "echo intact")).stdout, "intact\n");
  });

  test("oversized and malformed inputs on every body and query", async () => {
    const big = "y".repeat(300 * 1024);
    for (const path of ["/api/v1/exec", "/api/v1/broadcast", "/api/v1/tokens", "/api/v1/pending/x/reject", "/api/v1/enroll"]) {
      const oversized = await call("POST", path, { command: big, node: "target", name: "n", scope: "read", reason: big });
      assert.equal(oversized.status, 413, path);
      const nested = await call("POST", path, `{"a":${"[".repeat(5000)}${"]".repeat(5000)}}`);
      assert.ok(nested.status >= 400 && nested.status < 500, `${path} deep nesting → ${nested.status}`);
      const proto = await call("POST", path, '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}');
      assert.equal(proto.status, 400, `${path} prototype keys → ${proto.status}`);
    }
    const longQuery = await call("GET", `/api/v1/audit?node=${"z".repeat(10_000)}`);
    assert.equal(longQuery.status, 400);
    const unknownQuery = await call("GET", "/api/v1/audit?drop=table");
    assert.equal(unknownQuery.status, 400);
    const badLimit = await call("GET", "/api/v1/audit?limit=-5");
    assert.equal(badLimit.status, 400);
    const hugeHeader = await fetch(`${fleet.coordinator?.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${"q".repeat(20_000)}` } });
    assert.ok([400, 401, 431].includes(hugeHeader.status), String(hugeHeader.status));
    assert.equal((await fleet.client.health()).status, "ok");
  });

  test("command text reaches the shell only as a command: no file is written by an id or a label", async () => {
    const marker = `/tmp/ocf-adversarial-${process.pid}`;
    await call("POST", "/api/v1/exec", { node: `target; touch ${marker}`, command: "true" });
    await call("POST", "/api/v1/broadcast", { command: "true", labels: { [`x;touch ${marker}`]: "1" } });
    await call("GET", `/api/v1/nodes/${encodeURIComponent(`$(touch ${marker})`)}`);
    assert.equal(existsSync(marker), false);
  });
});

/**
 * Every registered route, called with every kind of caller (no token, read, exec and admin tokens,
 * read and exec dashboard sessions) and with its path spelled in the ways a client can bend it
 * (percent-encoded letters, everything encoded, double-encoded, mixed case, trailing slash). The
 * scope each route needs is read from the Scopes table of docs/API.md, so a route added without
 * an entry there, or one whose declaration drifts from it, fails this test.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import type { DeclaredRoute } from "../../src/coordinator/http/access.js";
import { DOCUMENTED } from "../helpers/route-scopes.js";
import { TestFleet } from "../helpers/fleet.js";

const RANK = { read: 1, exec: 2, admin: 3 } as const;

interface Caller {
  name: string;
  /** The scope it holds; undefined = no credentials at all. */
  scope?: "read" | "exec" | "admin";
  headers: Record<string, string>;
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** Send exactly `path` (no URL normalization, unlike fetch) and read at most a little of the answer. */
function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) } }, (res) => {
      let text = "";
      // Event streams never end (nor does a HEAD of one): the status is all this test needs.
      if (String(res.headers["content-type"] ?? "").includes("event-stream")) {
        resolve({ status: res.statusCode ?? 0, type: "text/event-stream", body: "" });
        req.destroy();
        return;
      }
      res.on("data", (chunk: Buffer) => {
        text += chunk.toString();
      });
      const done = (): void => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body: text });
      res.on("end", done);
      res.on("close", done);
    });
    req.on("error", (error) => ((error as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(error)));
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} did not answer`)));
    req.end(body);
  });
}

/** A sample path for a route pattern: ids that exist nowhere, so an allowed call changes nothing. */
function samplePath(pattern: string): string {
  return pattern.replace(/:([A-Za-z]+)/g, (_m, name: string) => (name === "file" ? "app.js" : name === "skill" ? "no-such-skill" : name === "requestId" ? "0badc0de" : "no-such-thing"));
}

const encodeChar = (c: string): string => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`;

/** The last letter of the path's last static segment, percent-encoded (`/file` → `/fil%65`). */
function encodeOneLetter(pattern: string, path: string): string | undefined {
  const segments = pattern.split("/");
  const sample = path.split("/");
  for (let i = segments.length - 1; i >= 0; i -= 1) {
    const segment = segments[i] ?? "";
    if (segment && !segment.startsWith(":") && /[a-z]$/.test(segment)) {
      sample[i] = `${segment.slice(0, -1)}${encodeChar(segment.slice(-1))}`;
      return sample.join("/");
    }
  }
  return undefined;
}

/** Every letter of the static segments percent-encoded. */
function encodeAllLetters(pattern: string, path: string): string | undefined {
  const segments = pattern.split("/");
  const sample = path.split("/");
  let changed = false;
  segments.forEach((segment, i) => {
    if (segment && !segment.startsWith(":")) {
      sample[i] = segment.replace(/[a-z]/g, (c) => encodeChar(c));
      changed = true;
    }
  });
  return changed ? sample.join("/") : undefined;
}

/** A letter of a static segment encoded twice (`/fil%2565`): decoded once it matches nothing. */
function doubleEncoded(pattern: string, path: string): string | undefined {
  return encodeOneLetter(pattern, path)?.replace(/%([0-9a-f]{2})/, "%25$1");
}

/** Whether the access check refused the request (its JSON error), as opposed to the handler's own answer. */
function refusedByAccess(answer: Answer): boolean {
  if (answer.status !== 401 && answer.status !== 403) return false;
  if (!answer.type.startsWith("application/json")) return false;
  // A HEAD answer has no body: its JSON type is the access check's.
  if (answer.body === "") return true;
  try {
    const code = (JSON.parse(answer.body) as { error?: { code?: string } }).error?.code;
    return code === "unauthorized" || code === "forbidden";
  } catch {
    return false;
  }
}

function mixedCase(path: string): string | undefined {
  const index = path.search(/[a-z]/);
  return index < 0 ? undefined : `${path.slice(0, index)}${path.charAt(index).toUpperCase()}${path.slice(index + 1)}`;
}

const key = (route: { method: string; url: string }): string => `${route.method} ${route.url}`;

describe("every route enforces its documented scope, however its path is spelled", () => {
  const fleet = new TestFleet();
  let base = "";
  let routes: DeclaredRoute[] = [];
  const callers: Caller[] = [];

  before(async () => {
    await fleet.startNats();
    const coordinator = await fleet.startCoordinator();
    base = coordinator.url;
    routes = coordinator.routes();
    await fleet.addApprovedWorker("vm");
    callers.push({ name: "no credentials", headers: {} });
    for (const scope of ["read", "exec", "admin"] as const) {
      const created = await fleet.client.createToken(`walk-${scope}`, scope);
      callers.push({ name: `${scope} token`, scope, headers: { authorization: `Bearer ${created.token}` } });
    }
    for (const scope of ["read", "exec"] as const) {
      const token = callers.find((c) => c.name === `${scope} token`)?.headers.authorization ?? "";
      const link = JSON.parse((await send(base, "POST", "/api/v1/dashboard/link", { authorization: token })).body) as { path: string };
      const login = await new Promise<string>((resolve, reject) => {
        const url = new URL(base);
        httpRequest({ host: url.hostname, port: url.port, path: link.path }, (res) => {
          res.resume();
          resolve(String(res.headers["set-cookie"] ?? "").split(";")[0] ?? "");
        })
          .on("error", reject)
          .end();
      });
      const session = JSON.parse((await send(base, "GET", "/api/v1/session", { cookie: login })).body) as { csrf: string };
      callers.push({ name: `${scope} dashboard session`, scope, headers: { cookie: login, "x-ocf-csrf": session.csrf } });
    }
  });
  after(() => fleet.close());

  test("the routes the coordinator serves are exactly the documented ones", () => {
    const served = new Set(routes.filter((r) => r.method !== "HEAD").map(key));
    assert.deepEqual([...served].sort(), Object.keys(DOCUMENTED).sort());
    for (const route of routes) {
      const documented = DOCUMENTED[key({ method: route.method === "HEAD" ? "GET" : route.method, url: route.url })];
      assert.equal(route.scope, documented, `${key(route)} declares ${route.scope}, the docs say ${documented}`);
    }
  });

  test("the reproductions of issue 18: an encoded path does not turn a read token into exec or admin", async () => {
    const read = callers.find((c) => c.name === "read token")?.headers ?? {};
    const session = callers.find((c) => c.name === "read dashboard session")?.headers ?? {};
    assert.ok(read.authorization && session.cookie, "both callers were set up");
    for (const headers of [read, session]) {
      const file = await send(base, "GET", "/api/v1/nodes/vm/fil%65?path=.openclaw-federation/coordinator/admin.token", headers);
      assert.equal(file.status, 403, file.body);
      assert.match(file.body, /needs \\"exec\\"|needs "exec"/);
      assert.ok(!file.body.includes("ocf_"), "no token in the answer");
      const tokens = await send(base, "GET", "/api/v1/%74okens", headers);
      assert.equal(tokens.status, 403, tokens.body);
      const traversal = await send(base, "GET", "/api/v1/nodes/vm/%2e%2e/%2e%2e/tokens", headers);
      assert.ok([403, 404].includes(traversal.status), `${traversal.status} ${traversal.body}`);
      assert.ok(!traversal.body.includes("ocft_"));
    }
  });

  test("each caller gets in exactly where its scope allows, on every spelling of every path", async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const route of routes) {
      const need = DOCUMENTED[key({ method: route.method === "HEAD" ? "GET" : route.method, url: route.url })] ?? "admin";
      const plain = samplePath(route.url);
      const matching = [plain, encodeOneLetter(route.url, plain), encodeAllLetters(route.url, plain)].filter((p): p is string => p !== undefined);
      const unmatched = plain === "/" ? [] : [doubleEncoded(route.url, plain), mixedCase(plain), `${plain}/`].filter((p): p is string => p !== undefined && p !== plain);
      const isUpload = route.method === "PUT";
      const body = route.method === "GET" || route.method === "HEAD" ? undefined : isUpload ? Buffer.from("abc") : Buffer.from("{}");
      const type: Record<string, string> = body ? { "content-type": isUpload ? "application/octet-stream" : "application/json" } : {};
      for (const caller of callers) {
        // POST /logout ends the session that calls it; sessions are checked on every other route.
        if (route.url === "/logout" && caller.headers.cookie) continue;
        const allowed = need === "public" || (caller.scope !== undefined && RANK[caller.scope] >= RANK[need]);
        const expectedRefusal = caller.scope === undefined ? 401 : 403;
        for (const path of matching) {
          const query = route.url.endsWith("/file") ? "?path=x" : "";
          const answer = await send(base, route.method, `${path}${query}`, { ...caller.headers, ...type }, body);
          checked += 1;
          if (allowed && refusedByAccess(answer)) failures.push(`${caller.name}: ${route.method} ${path} refused ${answer.status} (needs ${need}): ${answer.body.slice(0, 200)}`);
          if (!allowed && answer.status !== expectedRefusal) failures.push(`${caller.name}: ${route.method} ${path} answered ${answer.status}, expected ${expectedRefusal} (needs ${need}): ${answer.body.slice(0, 200)}`);
        }
        for (const path of unmatched) {
          const answer = await send(base, route.method, path, { ...caller.headers, ...type }, body);
          checked += 1;
          // A spelling no route matches: a stranger learns nothing (401), a caller with a token gets 404.
          const expected = caller.scope === undefined ? [401] : [404];
          if (!expected.includes(answer.status)) failures.push(`${caller.name}: ${route.method} ${path} answered ${answer.status}, expected ${expected.join("/")}: ${answer.body.slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${checked} requests broke their route's scope`);
    assert.ok(checked > 1000, `only ${checked} requests were made`);
  });
});

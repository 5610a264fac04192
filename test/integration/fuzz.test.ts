/**
 * Fuzz (fast-check) against live processes: a coordinator and a worker as child processes, with a
 * real nats-server. Generated HTTP requests (methods, paths around every route spelled every way a
 * client can bend them, query strings, headers, content types, bodies of JSON, text and bytes,
 * sizes, encodings, tokens of every scope and invalid ones; a scoped token never succeeds above
 * its scope) and NATS
 * messages on every subject the coordinator and the worker listen to (garbage, arbitrary JSON,
 * valid messages with one field replaced). Afterwards: both processes alive, no 5xx other than the
 * documented ones, the fleet still works, memory stable. Runs: FUZZ_RUNS (CI 3,000 HTTP + 3,000
 * NATS; `npm run test:fuzz` 100,000 each). The worker runs with exec_policy deny, so no generated
 * command runs anywhere.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { encodeMessage } from "../../src/protocol/codec.js";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import type { NatsConnection } from "../../src/transport/connection.js";
import { freePort } from "../../src/util/net.js";
import { spawnCli, TestFleet, waitFor, writeArtifact } from "../helpers/fleet.js";
import { documentedScope, DOCUMENTED } from "../helpers/route-scopes.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const NODE = "fz";
/** 5xx the API documents: degraded health, a command that timed out, a capture tool that failed. */
const DOCUMENTED_5XX = new Set(["unavailable", "timeout", "exec_failed", "shutting_down"]);

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

const segment = fc.oneof(
  fc.constantFrom(NODE, "nope", "..", "%2e%2e", "a".repeat(300), "x%00y", "' OR 1=1", "<script>", "t1", "1", "-1", "pending", "latest"),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
);
const TEMPLATES = [
  "/api/v1/nodes/:id",
  "/api/v1/nodes/:id/info",
  "/api/v1/nodes/:id/skills",
  "/api/v1/nodes/:id/skills/:skill/run",
  "/api/v1/nodes/:id/screenshot",
  "/api/v1/nodes/:id/camera",
  "/api/v1/nodes/:id/file",
  "/api/v1/nodes/:id/rotate",
  "/api/v1/files/:id",
  "/api/v1/pending/:requestId/approve",
  "/api/v1/pending/:requestId/reject",
  "/api/v1/pending/reject",
  "/api/v1/tasks/:id",
  "/api/v1/tasks/:id/output",
  "/api/v1/tasks/:id/cancel",
  "/api/v1/tokens/:id",
  "/api/v1/nodes",
  "/api/v1/pending",
  "/api/v1/exec",
  "/api/v1/broadcast",
  "/api/v1/broadcast/stream",
  "/api/v1/tasks",
  "/api/v1/skills",
  "/api/v1/audit",
  "/api/v1/tokens",
  "/api/v1/enroll",
  "/api/v1/session",
  "/api/v1/dashboard/link",
  "/metrics",
  "/health",
  "/login",
  "/logout",
  "/assets/:file",
  "/",
] as const;

/** Ways a client can spell a path: percent-encoded letters (once or twice), case, slashes, dots. */
const SPELLINGS: Record<string, (path: string, pick: number) => string> = {
  plain: (p) => p,
  "one letter encoded": (p, pick) => encodeLetters(p, (i, n) => i === pick % Math.max(1, n)),
  "every letter encoded": (p) => encodeLetters(p, () => true),
  "encoded twice": (p, pick) => encodeLetters(p, (i, n) => i === pick % Math.max(1, n)).replace(/%([0-9a-f]{2})/, "%25$1"),
  "upper-case hex": (p, pick) => encodeLetters(p, (i, n) => i === pick % Math.max(1, n)).replace(/%([0-9a-f]{2})/, (hex) => hex.toUpperCase()),
  "one letter upper case": (p, pick) => {
    const letters = [...p.matchAll(/[a-z]/g)];
    const at = letters[pick % Math.max(1, letters.length)]?.index;
    return at === undefined ? p : `${p.slice(0, at)}${p.charAt(at).toUpperCase()}${p.slice(at + 1)}`;
  },
  "trailing slash": (p) => `${p}/`,
  "double slash": (p) => p.replace("/", "//"),
  "dot segment": (p) => p.replace(/\/([^/]*)$/, "/./$1"),
  "encoded slash": (p) => (p.lastIndexOf("/") > 0 ? p.replace(/\/([^/]*)$/, "%2F$1") : p),
};

/** Percent-encode the letters of `path` that `which(index, count)` picks. */
function encodeLetters(path: string, which: (index: number, count: number) => boolean): string {
  const count = (path.match(/[a-z]/g) ?? []).length;
  let index = -1;
  return path.replace(/[a-z]/g, (c) => {
    index += 1;
    return which(index, count) ? `%${c.charCodeAt(0).toString(16)}` : c;
  });
}

/** A request target: the route pattern it was made from (to know what scope it needs) and the path as sent. */
const path = fc.oneof(
  fc
    .tuple(fc.constantFrom(...TEMPLATES), fc.array(segment, { minLength: 3, maxLength: 3 }), fc.constantFrom(...Object.keys(SPELLINGS)), fc.nat())
    .map(([template, parts, spelling, pick]) => {
      let i = 0;
      const filled = template.replace(/:[A-Za-z]+/g, () => parts[i++] ?? "x");
      return { template: template as string, spelling, path: (SPELLINGS[spelling] as (p: string, n: number) => string)(filled, pick) };
    }),
  fc.string({ maxLength: 80 }).map((s) => ({ template: "", spelling: "random", path: `/${s}` })),
);
const query = fc.oneof(
  fc.constant(""),
  fc.dictionary(fc.constantFrom("path", "wait", "limit", "before", "state", "node", "t", "stream", "attempt", "since", "action", "x"), fc.oneof(fc.string({ maxLength: 20 }), fc.integer().map(String)), { maxKeys: 3 }).map((q) => `?${new URLSearchParams(q).toString()}`),
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.record({ command: fc.string({ maxLength: 30 }), node: fc.oneof(fc.constant(NODE), fc.string({ maxLength: 10 })), timeout_ms: fc.oneof(fc.integer(), fc.double()), labels: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 })) }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ tasks: fc.array(fc.record({ command: fc.string({ maxLength: 10 }), labels: fc.constant({ never: "matches" }) }), { maxLength: 5 }) }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
  fc.integer({ min: 200_000, max: 400_000 }).map((n) => "x".repeat(n)),
);
const contentType = fc.constantFrom(
  undefined,
  "application/json",
  "APPLICATION/JSON",
  "application/json; charset=utf-16",
  "application/json; charset=latin1",
  "application/merge-patch+json",
  "text/plain",
  "text/plain; charset=x",
  "application/octet-stream",
  "application/octet-stream; x=y",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "image/png",
  "garbage/type",
  "",
);

describe("fuzz: HTTP and NATS against live processes", { timeout: 600_000 }, () => {
  let fleet: TestFleet;
  let url = "";
  let coordinator: ChildProcess;
  let worker: ChildProcess;
  let nc: NatsConnection;
  const stats = { http: 0, nats: 0, status: new Map<number, number>() };

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    fleet = new TestFleet({ coordinator: { port, auto_approve: true, heartbeat_timeout: 10, heartbeat_check_interval: 1 }, communication: { coordinator_url: url }, log: { level: "warn" } });
    await fleet.startNats();
    coordinator = await fleet.spawnCoordinator(url, fleet.configFile("coordinator"));
    worker = spawnCli(["worker", "-c", fleet.configFile("worker", { worker: { state_dir: join(fleet.dir, "w"), exec_policy: "deny", heartbeat_interval: 1 } }), "--node-id", NODE]);
    await waitFor("worker online", async () => (await fleet.client.nodes()).some((n) => n.id === NODE && n.status === "online"), 30_000, 200);
    nc = await fleet.connectAdmin();
  });
  after(async () => {
    await nc?.close();
    for (const child of [worker, coordinator]) if (child && child.exitCode === null) child.kill("SIGKILL");
    await fleet.close();
    writeArtifact("fuzz.json", { runs: RUNS, http: stats.http, nats: stats.nats, status: Object.fromEntries(stats.status) });
  });

  test(`${RUNS} generated HTTP requests: no crash, no undocumented 5xx, memory stable`, async () => {
    const rssBefore = rssKb(coordinator.pid as number);
    // Tokens of every scope, and bad ones: a scoped token must never succeed on a route above its scope.
    const read = (await fleet.client.createToken("fuzz-read", "read")).token;
    const exec = (await fleet.client.createToken("fuzz-exec", "exec")).token;
    const token = fc.oneof(
      { arbitrary: fc.constant({ value: fleet.token, scope: "admin" as const }), weight: 6 },
      { arbitrary: fc.constant({ value: read, scope: "read" as const }), weight: 3 },
      { arbitrary: fc.constant({ value: exec, scope: "exec" as const }), weight: 3 },
      { arbitrary: fc.constantFrom("ocft_bad.token", "", "Bearer", fleet.token.toUpperCase()).map((value) => ({ value, scope: undefined })), weight: 2 },
    );
    const rank = { read: 1, exec: 2, admin: 3 } as const;
    // Mostly a method the route serves (so scope checks are reached), sometimes any method.
    const anyMethod = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD");
    const request = path.chain((target) => {
      const served = Object.keys(DOCUMENTED)
        .filter((key) => key.endsWith(` ${target.template}`))
        .map((key) => key.split(" ")[0] as string);
      const method = served.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...served), weight: 3 }, { arbitrary: anyMethod, weight: 1 }) : anyMethod;
      return method.map((m) => ({ method: m, target }));
    });
    await fc.assert(
      fc.asyncProperty(request, query, body, contentType, token, fc.boolean(), async ({ method, target }, q, b, type, token, gzip) => {
        const p = target.path;
        // Never remove or rotate the node under test, however the path spells it.
        let decoded = p;
        try {
          decoded = decodeURIComponent(p);
        } catch {
          // not decodable: no route matches it either
        }
        if ((method === "DELETE" && decoded.startsWith(`/api/v1/nodes/${NODE}`)) || decoded.startsWith(`/api/v1/nodes/${NODE}/rotate`)) return;
        const headers: Record<string, string> = {};
        if (token.value) headers.authorization = `Bearer ${token.value}`;
        if (type) headers["content-type"] = type;
        if (gzip) headers["content-encoding"] = "gzip";
        const withBody = b !== undefined && method !== "GET" && method !== "HEAD";
        const response = await fetch(`${url}${p}${q}`, { method, headers, ...(withBody ? { body: b } : {}), signal: AbortSignal.timeout(30_000) });
        const text = await response.text();
        stats.http += 1;
        stats.status.set(response.status, (stats.status.get(response.status) ?? 0) + 1);
        const need = documentedScope(method, target.template);
        if (need && need !== "public" && (token.scope === undefined || rank[token.scope] < rank[need])) {
          assert.ok(response.status >= 400, `${token.scope ?? "no"} token got ${response.status} for ${method} ${p} (${target.spelling}; needs ${need}): ${text.slice(0, 200)}`);
        }
        if (response.status >= 500) {
          let code: string;
          try {
            const parsed = JSON.parse(text) as { error?: { code?: string }; status?: string };
            code = parsed.error?.code ?? (parsed.status === "degraded" ? "unavailable" : "");
          } catch {
            code = "";
          }
          assert.ok(DOCUMENTED_5XX.has(code), `${method} ${p}${q} → ${response.status} ${text.slice(0, 300)}`);
        }
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261203) },
    );
    assert.equal(coordinator.exitCode, null, "coordinator alive");
    const rssAfter = rssKb(coordinator.pid as number);
    assert.ok(rssAfter < rssBefore * 2 + 50_000, `coordinator RSS ${rssBefore} → ${rssAfter} kB`);
    assert.equal((await fleet.client.health()).status, "ok");
  });

  test(`${RUNS} generated NATS messages on every subject: no crash, both keep answering`, async () => {
    const valid: Record<string, Record<string, unknown>> = {
      hb: { v: PROTOCOL_VERSION, node_id: NODE, ts: Date.now(), seq: 1, load: { cpu: 1, memory: 1, disk: 1, running_tasks: 0, max_concurrent_tasks: 5 } },
      exec: { v: PROTOCOL_VERSION, id: "x", command: "true", timeout_ms: 1000, max_output_bytes: 1024 },
      call: { v: PROTOCOL_VERSION, id: "x", capability: "sys.info", params: {}, timeout_ms: 1000 },
      task: { v: PROTOCOL_VERSION, type: "assign", task_id: "tx", attempt: 1, work: { kind: "command", command: "true" }, timeout_ms: 1000, max_output_bytes: 1024 },
      tevt: { v: PROTOCOL_VERSION, type: "done", node_id: NODE, task_id: "tx", attempt: 1, state: "succeeded", exit_code: 0, signal: null, stdout: "", stderr: "", truncated: false, started_at: null, finished_at: 1 },
      enroll: { v: PROTOCOL_VERSION, public_key: "UABC", payload: "{}", sig: "AAAA" },
      bres: { v: PROTOCOL_VERSION, id: "x", node_id: NODE, status: "ok", exit_code: 0, signal: null, stdout: "", stderr: "", duration_ms: 1, truncated: false },
    };
    const subjects: Record<string, string> = {
      hb: `ocf.node.${NODE}.hb`,
      exec: `ocf.node.${NODE}.exec`,
      call: `ocf.node.${NODE}.call`,
      task: `ocf.node.${NODE}.task`,
      tevt: `ocf.node.${NODE}.tevt`,
      enroll: "ocf.enroll",
      bcast: "ocf.bcast.exec",
      bres: `ocf.node.${NODE}.bres`,
      ctl: `ocf.node.${NODE}.ctl`,
    };
    const payload = (kind: string): fc.Arbitrary<Uint8Array> => {
      const garbage = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.jsonValue({ maxDepth: 3 }).map((v) => encodeMessage(v as object)), fc.string({ maxLength: 100 }).map((s) => new TextEncoder().encode(s)));
      // Control messages from a full-rights connection are trusted by design: only garbage there.
      const template = valid[kind];
      if (!template || kind === "ctl") return garbage;
      const mutated = fc.tuple(fc.constantFrom(...Object.keys(template)), fc.jsonValue({ maxDepth: 2 })).map(([field, value]) => encodeMessage({ ...template, [field]: value }));
      return fc.oneof(garbage, mutated, fc.constant(encodeMessage(template)));
    };
    // The coordinator answers a node only in that node's own inbox (`_INBOX_<id>.…`): a join or a
    // task event asking for its answer anywhere else, here this full-rights connection's inboxes
    // (where the coordinator's own requests wait too), gets none.
    const misdirected: string[] = [];
    nc.subscribe("_INBOX.fuzz.>", {
      callback: (_err, msg) => {
        misdirected.push(`${msg.subject}: ${new TextDecoder().decode(msg.data).slice(0, 200)}`);
      },
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(subjects)).chain((kind) => fc.tuple(fc.constant(kind), payload(kind), fc.boolean(), fc.boolean())), async ([kind, data, asRequest, ownInbox]) => {
        stats.nats += 1;
        const subject = subjects[kind] as string;
        // The worker answers these whatever arrives: a request there must get a reply (no hang).
        if (asRequest && ["exec", "call", "task"].includes(kind)) {
          const reply = await nc.request(subject, data, { timeout: 5000 });
          assert.ok(reply.data.length > 0, `${kind}: empty reply`);
        } else if (asRequest && ["enroll", "tevt"].includes(kind)) {
          // A task event may be answered in the node's own inbox; nothing may arrive in the other.
          nc.publish(subject, data, { reply: kind === "tevt" && ownInbox ? `_INBOX_${NODE}.fuzz.${stats.nats}` : `_INBOX.fuzz.${stats.nats}` });
        } else nc.publish(subject, data);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261203) },
    );
    await nc.flush();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(misdirected.slice(0, 5), [], `${misdirected.length} answers outside the node's inbox`);
    assert.equal(coordinator.exitCode, null, "coordinator alive");
    assert.equal(worker.exitCode, null, "worker alive");
    // Both still answer: the worker refuses a command by its policy; the coordinator reports health.
    await assert.rejects(fleet.client.exec(NODE, "true"), (error: { code?: string }) => error.code === "policy_denied");
    assert.equal((await fleet.client.info(NODE)).node_id, NODE);
    assert.equal((await fleet.client.health()).status, "ok");
  });
});

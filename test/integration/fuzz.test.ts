/**
 * Fuzz (fast-check) against live processes: a coordinator and a worker as child processes, with a
 * real nats-server. Generated HTTP requests (methods, paths around every route, query strings,
 * headers, bodies of JSON, text and bytes, sizes, encodings, valid and invalid tokens) and NATS
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
const path = fc.oneof(
  fc.tuple(
    fc.constantFrom(
      "/api/v1/nodes/:s",
      "/api/v1/nodes/:s/info",
      "/api/v1/nodes/:s/skills",
      "/api/v1/nodes/:s/skills/:s/run",
      "/api/v1/nodes/:s/screenshot",
      "/api/v1/nodes/:s/camera",
      "/api/v1/nodes/:s/file",
      "/api/v1/nodes/:s/rotate",
      "/api/v1/files/:s",
      "/api/v1/pending/:s/approve",
      "/api/v1/pending/:s/reject",
      "/api/v1/tasks/:s",
      "/api/v1/tasks/:s/output",
      "/api/v1/tasks/:s/cancel",
      "/api/v1/tokens/:s",
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
      "/assets/:s",
      "/",
    ),
    fc.array(segment, { minLength: 3, maxLength: 3 }),
  ).map(([template, parts]) => {
    let i = 0;
    return template.replace(/:s/g, () => parts[i++] ?? "x");
  }),
  fc.string({ maxLength: 80 }).map((s) => `/${s}`),
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
const contentType = fc.constantFrom(undefined, "application/json", "text/plain", "application/octet-stream", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; charset=latin1", "garbage/type");

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
    const token = fc.oneof({ arbitrary: fc.constant(fleet.token), weight: 8 }, { arbitrary: fc.constantFrom("ocft_bad.token", "", "Bearer", fleet.token.toUpperCase()), weight: 2 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"), path, query, body, contentType, token, fc.boolean(), async (method, p, q, b, type, token, gzip) => {
        // Never remove or rotate the node under test, and never log out the fuzzer itself.
        if ((method === "DELETE" && p.startsWith(`/api/v1/nodes/${NODE}`)) || p.startsWith(`/api/v1/nodes/${NODE}/rotate`)) return;
        const headers: Record<string, string> = {};
        if (token) headers.authorization = `Bearer ${token}`;
        if (type) headers["content-type"] = type;
        if (gzip) headers["content-encoding"] = "gzip";
        const withBody = b !== undefined && method !== "GET" && method !== "HEAD";
        const response = await fetch(`${url}${p}${q}`, { method, headers, ...(withBody ? { body: b } : {}), signal: AbortSignal.timeout(30_000) });
        const text = await response.text();
        stats.http += 1;
        stats.status.set(response.status, (stats.status.get(response.status) ?? 0) + 1);
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
    };
    const subjects: Record<string, string> = {
      hb: `ocf.node.${NODE}.hb`,
      exec: `ocf.node.${NODE}.exec`,
      call: `ocf.node.${NODE}.call`,
      task: `ocf.node.${NODE}.task`,
      tevt: `ocf.node.${NODE}.tevt`,
      enroll: "ocf.enroll",
      bcast: "ocf.bcast.exec",
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
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(subjects)).chain((kind) => fc.tuple(fc.constant(kind), payload(kind), fc.boolean())), async ([kind, data, asRequest]) => {
        stats.nats += 1;
        const subject = subjects[kind] as string;
        // These always answer, whatever arrives: a request there must get a reply (no hang).
        if (asRequest && ["exec", "call", "task", "enroll"].includes(kind)) {
          const reply = await nc.request(subject, data, { timeout: 5000 });
          assert.ok(reply.data.length > 0, `${kind}: empty reply`);
        } else nc.publish(subject, data);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261203) },
    );
    await nc.flush();
    assert.equal(coordinator.exitCode, null, "coordinator alive");
    assert.equal(worker.exitCode, null, "worker alive");
    // Both still answer: the worker refuses a command by its policy; the coordinator reports health.
    await assert.rejects(fleet.client.exec(NODE, "true"), (error: { code?: string }) => error.code === "policy_denied");
    assert.equal((await fleet.client.info(NODE)).node_id, NODE);
    assert.equal((await fleet.client.health()).status, "ok");
  });
});

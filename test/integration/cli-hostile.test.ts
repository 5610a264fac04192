/**
 * The real `ocf` CLI against a coordinator whose answers carry what a hostile node can put in them:
 * a file's path chosen to overwrite the operator's dotfiles, node ids that climb out of the
 * current folder, and terminal escape sequences (ESC, CR, BEL, bidi overrides) in every text field
 * a node (or a join, or a task it ran) controls.
 *
 * The coordinator here is a small fake HTTP server speaking the real API's shapes. That is
 * deliberate: the thing under test is how the CLI handles an answer. A real coordinator refuses
 * control characters in join fields today, but values stored before that, text a worker reports
 * (attempt errors, skill problems, sys.info, the path a file.get says it read) and fields without
 * such a check all reach the CLI through it, so the CLI must hold on its own. Escaping through a
 * real coordinator is covered in cli.test.ts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { AuditView, JoinRequestView, NodeInfoResult, NodeSkills, NodeView, TaskView, TokenView } from "../../src/protocol/api.js";
import { runCli, tempDir, type CliResult } from "../helpers/fleet.js";

/** Clear the screen, return to the line start, set the window title, reverse what follows. */
const EVIL = "\x1b[2J\r\x1b]0;owned\x07\u202e";
/** What `printable` makes of EVIL. */
const EVIL_SHOWN = "\\x1b[2J\\r\\x1b]0;owned\\x07\\u202e";
/** Where the first character that steers a terminal is (C0 besides the newline and tab ocf prints itself, DEL, C1, bidi), or -1. */
function controlAt(text: string): number {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x0a && code !== 0x09) || (code >= 0x7f && code <= 0x9f) || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) return i;
  }
  return -1;
}

const now = new Date().toISOString();
const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

function node(id: string): NodeView {
  return {
    id,
    name: `name${EVIL}`,
    status: "online",
    labels: { [`k${EVIL}`]: `v${EVIL}` },
    capabilities: ["shell.exec", `skill:s${EVIL}`],
    os: `linux${EVIL}`,
    arch: "x64",
    hostname: `host${EVIL}`,
    ips: [`10.0.0.1${EVIL}`],
    version: `1${EVIL}`,
    fingerprint: `ab12${EVIL}`,
    last_seen: now,
    approved_at: now,
    load: { cpu: 1, memory: 2, disk: 3, running_tasks: 0, max_concurrent_tasks: 4 },
  };
}

function request(): JoinRequestView {
  return {
    request_id: `r${EVIL}`,
    node_id: `n${EVIL}`,
    name: `name${EVIL}`,
    hostname: `host${EVIL}`,
    os: "linux",
    arch: "x64",
    ips: [],
    labels: {},
    capabilities: [],
    version: "1",
    public_key: "U",
    fingerprint: `f${EVIL}`,
    address: `127.0.0.1${EVIL}`,
    status: "pending",
    reason: `why${EVIL}`,
    created_at: now,
    updated_at: now,
    decided_at: null,
  };
}

function task(): TaskView {
  return {
    id: `t${EVIL}`,
    state: "failed",
    kind: "command",
    command: `make test${EVIL}`,
    skill: null,
    params: null,
    target: { node: `evil${EVIL}` },
    requirements: {},
    priority: 0,
    timeout_ms: 1000,
    max_retries: 0,
    attempt: 1,
    failures: 1,
    node_id: `evil${EVIL}`,
    exit_code: 1,
    reason: `reason${EVIL}`,
    cancel_requested: false,
    submitted_by: `token:x${EVIL}`,
    created_at: now,
    updated_at: now,
    started_at: now,
    finished_at: now,
    duration_ms: 5,
    attempts: [
      { attempt: 1, node_id: `evil${EVIL}`, state: "failed", assigned_at: now, started_at: now, finished_at: now, exit_code: 1, signal: null, stdout: "", stderr: "", truncated: false, output_file: false, error: `error${EVIL}` },
    ],
  };
}

const skillTask = (): TaskView => ({ ...task(), kind: "skill", command: null, skill: `disk${EVIL}`, params: { path: `/x${EVIL}` } });

const audit: AuditView[] = [{ id: 1, ts: now, actor: `token:x${EVIL}`, action: `exec${EVIL}`, node_id: `evil${EVIL}`, command: `id${EVIL}`, status: `ok${EVIL}`, exit_code: 0, duration_ms: 1, detail: null }];
const tokens: TokenView[] = [{ id: `i${EVIL}`, name: `name${EVIL}`, scope: "read", created_at: now, created_by: "admin", last_used_at: null, revoked_at: null }];
const skills: NodeSkills[] = [
  {
    node_id: `evil${EVIL}`,
    status: "ok",
    skills: [{ name: `s${EVIL}`, description: `d${EVIL}`, parameters: { type: "object", properties: { [`p${EVIL}`]: { type: "string", description: `pd${EVIL}` } } }, timeout_s: 5, requires: [], available: false, missing: `m${EVIL}` }],
    problems: [{ folder: `f${EVIL}`, error: `e${EVIL}` }],
    skills_dir: `/s${EVIL}`,
  },
  { node_id: `down${EVIL}`, status: "error", skills: [], problems: [], skills_dir: null, error: { code: "internal", message: `boom${EVIL}` } },
];
const info: NodeInfoResult = {
  node_id: `evil${EVIL}`,
  collected_at: now,
  duration_ms: 1,
  info: { hostname: `h${EVIL}`, os: { platform: "linux", release: `r${EVIL}`, version: "v", distro: `d${EVIL}` }, network: [{ name: `eth${EVIL}`, addresses: [`a${EVIL}`], mac: null }] },
};
const execResult = (id: string) => ({ node: `evil${EVIL}`, node_id: id, status: "error", exit_code: null, signal: null, stdout: "plain output\n", stderr: "", duration_ms: 1, truncated: false, error: { code: "policy_denied", message: `denied${EVIL}` } });

/** The bytes a file.get returns, and the path the node claims for them. */
const FILE_BODY = Buffer.from("echo 'the node chose this'\n");
const PNG = Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082", "hex");

interface Fake {
  url: string;
  /** The x-ocf-path header the next file.get answers with (encoded as the real one is). */
  filePath: string;
  /** The `file.url` a capture answer carries. */
  captureUrl: string;
  /** The node id a capture answer carries. */
  captureNode: string;
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function startFake(): Promise<Fake> {
  const fake = { url: "", filePath: "/home/victim/.bashrc", captureUrl: "/api/v1/files/f1", captureNode: "../escaped", close: async () => undefined } as Fake;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const { pathname } = new URL(req.url ?? "/", "http://x");
      const route = `${req.method} ${pathname}`;
      if (req.headers.authorization !== "Bearer test-token") return send(res, 401, { error: { code: "unauthorized", message: "no" } });
      if (route === "GET /health") return send(res, 200, { status: "ok", version: `9${EVIL}`, uptime_s: 1, nats: { connected: true, secure: true }, db: { ok: true }, nodes: { total: 1, online: 1, offline: 0, pending: 1 } });
      if (route === "GET /api/v1/nodes") return send(res, 200, { nodes: [node(`evil${EVIL}`)] });
      if (/^GET \/api\/v1\/nodes\/[^/]+\/file$/.test(route)) {
        res.writeHead(200, { "content-type": "application/octet-stream", "x-ocf-sha256": sha256(FILE_BODY), "x-ocf-path": encodeURIComponent(fake.filePath) });
        return res.end(FILE_BODY);
      }
      if (/^PUT \/api\/v1\/nodes\/[^/]+\/file$/.test(route)) return send(res, 200, { node_id: `evil${EVIL}`, path: `/tmp/x${EVIL}`, bytes: body.length, sha256: sha256(body) });
      if (/^GET \/api\/v1\/nodes\/[^/]+\/info$/.test(route)) return send(res, 200, info);
      if (/^GET \/api\/v1\/nodes\/[^/]+\/skills$/.test(route)) return send(res, 200, skills[0]);
      if (/^POST \/api\/v1\/nodes\/[^/]+\/skills\/[^/]+\/run$/.test(route)) return send(res, 200, { ...execResult("evil"), skill: "s", params: {} });
      if (/^POST \/api\/v1\/nodes\/[^/]+\/(screenshot|camera)$/.test(route)) return send(res, 201, { node_id: fake.captureNode, file: { id: "f1", mime: "image/png", bytes: PNG.length, sha256: sha256(PNG), url: fake.captureUrl }, width: 1, height: 1, duration_ms: 1 });
      if (/^POST \/api\/v1\/nodes\/[^/]+\/rotate$/.test(route)) return send(res, 200, { node_id: `evil${EVIL}`, revoked_at: `now${EVIL}`, secure: true });
      if (/^GET \/api\/v1\/nodes\/[^/]+$/.test(route)) return send(res, 200, node(`evil${EVIL}`));
      if (/^DELETE \/api\/v1\/nodes\/[^/]+$/.test(route)) return send(res, 200, { removed: node(`evil${EVIL}`) });
      if (route === "GET /api/v1/files/f1") {
        res.writeHead(200, { "content-type": "image/png" });
        return res.end(PNG);
      }
      if (route === "GET /api/v1/pending") return send(res, 200, { pending: [request()] });
      if (route === "POST /api/v1/pending/reject") return send(res, 200, { rejected: [request()], count: 1, dry_run: false });
      if (/^POST \/api\/v1\/pending\/[^/]+\/(approve|reject)$/.test(route)) return send(res, 200, { request: request(), node: null });
      if (route === "GET /api/v1/audit") return send(res, 200, { entries: audit });
      if (route === "GET /api/v1/tokens") return send(res, 200, { tokens });
      if (route === "POST /api/v1/tokens") return send(res, 201, { ...tokens[0], token: "ocft_secret" });
      if (/^DELETE \/api\/v1\/tokens\/[^/]+$/.test(route)) return send(res, 200, { revoked: tokens[0] });
      if (route === "GET /api/v1/skills") return send(res, 200, { nodes: skills });
      if (route === "POST /api/v1/exec") return send(res, 200, execResult("evil"));
      if (route === "POST /api/v1/broadcast") {
        return send(res, 200, { id: "b", command: "x", labels: {}, results: [{ ...execResult(`evil2${EVIL}`), status: "error" }], summary: { total: 1, ok: 0, error: 1, timeout: 0, offline: 0, duration_ms: 1 } });
      }
      if (route === "POST /api/v1/dashboard/link") return send(res, 200, { path: `/login/abc${EVIL}`, expires_at: now, scope: `admin${EVIL}` });
      if (route === "GET /api/v1/tasks") return send(res, 200, { tasks: [task(), skillTask()], next_before: null });
      if (route === "POST /api/v1/tasks") return send(res, 201, { ...task(), state: "queued" });
      if (/^GET \/api\/v1\/tasks\/[^/]+\/stream$/.test(route)) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`event: state\ndata: ${JSON.stringify({ ...task(), state: "queued" })}\n\n`);
        res.write(`event: output\ndata: ${JSON.stringify({ attempt: 1, stream: "stdout", data: "plain output\n" })}\n\n`);
        return res.end(`event: end\ndata: ${JSON.stringify(task())}\n\n`);
      }
      if (/^POST \/api\/v1\/tasks\/[^/]+\/cancel$/.test(route)) return send(res, 200, { ...task(), state: "running" });
      if (/^GET \/api\/v1\/tasks\/skill[^/]*$/.test(route)) return send(res, 200, skillTask());
      if (/^GET \/api\/v1\/tasks\/[^/]+$/.test(route)) return send(res, 200, task());
      return send(res, 404, { error: { code: "not_found", message: `no route ${route}${EVIL}` } });
    })().catch((error: unknown) => send(res, 500, { error: { code: "internal", message: String(error) } }));
  });
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise((resolveClose) => server.close(() => resolveClose()));
  return fake;
}

/** Nothing in what ocf printed can drive the terminal, and the hostile text was shown escaped. */
function escaped(result: CliResult, what: string, shown = true): void {
  const out = `${result.stdout}${result.stderr}`;
  const at = controlAt(out);
  assert.equal(at, -1, `${what}: a raw control character at ${at}: ${JSON.stringify(out.slice(Math.max(0, at - 40), at + 40))}`);
  if (shown) assert.ok(out.includes(EVIL_SHOWN), `${what}: the hostile text, escaped, in ${JSON.stringify(out)}`);
}

describe("ocf against hostile answers", () => {
  let fake: Fake;
  const work = tempDir("ocf-hostile-");
  let env: NodeJS.ProcessEnv = {};

  before(async () => {
    fake = await startFake();
    // No config of this machine is read: the URL and token come from the environment.
    env = { OCF_URL: fake.url, OCF_TOKEN: "test-token", OCF_CONFIG: join(work.path, "none.yaml") };
    writeFileSync(join(work.path, "none.yaml"), "{}\n");
  });
  after(async () => {
    await fake.close();
    work.cleanup();
  });

  test("ocf cp node:file dir/: the local file is named after the path asked for, never after the path the node answers", async () => {
    const home = join(work.path, "victimhome");
    mkdirSync(home);
    fake.filePath = "/home/victim/.bashrc";
    const copied = await runCli(["cp", "evil:/tmp/report.txt", `${home}/`], { env });
    assert.equal(copied.code, 0, copied.stderr);
    assert.deepEqual(readdirSync(home), ["report.txt"]);
    assert.equal(existsSync(join(home, ".bashrc")), false, "the node's name was never used");
    assert.ok(readFileSync(join(home, "report.txt")).equals(FILE_BODY));
    assert.match(copied.stdout, /^evil:\/tmp\/report\.txt → .*\/victimhome\/report\.txt \(27 bytes, sha256 /m);
    // The answer did not match the request: said on stderr, with what the node claimed.
    assert.match(copied.stderr, /the node answered with another file name \(\/home\/victim\/\.bashrc\)/);

    // A relative request, a climbing answer, and the folder without a trailing slash.
    fake.filePath = "../../../../home/victim/.profile";
    const relative = await runCli(["cp", "evil:sub/notes.txt", home], { env });
    assert.equal(relative.code, 0, relative.stderr);
    assert.deepEqual(readdirSync(home).sort(), ["notes.txt", "report.txt"]);

    // --json keeps the node's claim exact, next to what was asked and where it went.
    fake.filePath = `/tmp/${EVIL}.bashrc`;
    const json = await runCli(["--json", "cp", "evil:/srv/data.csv", home], { env });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { requested: string; from: string; to: string };
    assert.equal(parsed.requested, "evil:/srv/data.csv");
    assert.equal(parsed.from, `evil:/tmp/${EVIL}.bashrc`);
    assert.equal(parsed.to, join(home, "data.csv"));
    assert.deepEqual(readdirSync(home).sort(), ["data.csv", "notes.txt", "report.txt"]);
  });

  test("ocf cp: a request that names no file, or a missing folder, is refused before anything is written", async () => {
    const dir = join(work.path, "names");
    mkdirSync(dir);
    fake.filePath = "/home/victim/.bashrc";
    for (const remote of ["evil:/tmp/..", "evil:.", "evil:/tmp/sub/."]) {
      const refused = await runCli(["cp", remote, dir], { env });
      assert.equal(refused.code, 2, `${remote}: ${refused.stderr}`);
      assert.match(refused.stderr, /names no file to save it as here: give the local file name/);
    }
    const missing = await runCli(["cp", "evil:/tmp/report.txt", join(dir, "nope") + "/"], { env });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /is not a folder/);
    assert.deepEqual(readdirSync(dir), []);
    // A file name given by the operator is used as is.
    const named = await runCli(["cp", "evil:/tmp/..", join(dir, "mine.txt")], { env });
    assert.equal(named.code, 0, named.stderr);
    assert.deepEqual(readdirSync(dir), ["mine.txt"]);
  });

  test("ocf cp: the paths it prints are escaped both ways", async () => {
    const dir = join(work.path, "escaped");
    mkdirSync(dir);
    fake.filePath = `/tmp/${EVIL}report.txt`;
    escaped(await runCli(["cp", "evil:/tmp/report.txt", dir], { env }), "cp from a node");
    const local = join(dir, "up.txt");
    writeFileSync(local, "up\n");
    escaped(await runCli(["cp", local, "evil:/tmp/"], { env }), "cp to a node");
  });

  test("screenshot and camera without -o: the file is named after the node as the operator typed it, in this folder", async () => {
    const parent = join(work.path, "shots");
    const cwd = join(parent, "here");
    mkdirSync(cwd, { recursive: true });
    fake.captureNode = `../escaped${EVIL}`;
    const shot = await runCli(["screenshot", "Desk"], { env, cwd });
    assert.equal(shot.code, 0, shot.stderr);
    const camera = await runCli(["camera", "garage"], { env, cwd });
    assert.equal(camera.code, 0, camera.stderr);
    assert.deepEqual(readdirSync(parent), ["here"], "nothing was written outside the current folder");
    const saved = readdirSync(cwd).sort();
    assert.equal(saved.length, 2, saved.join(","));
    assert.match(saved[0] ?? "", /^Desk-\d{8}T\d{6}\.png$/);
    assert.match(saved[1] ?? "", /^garage-\d{8}T\d{6}\.png$/);
    escaped(shot, "screenshot");
    // A node argument that is not a plain name does not become a path either.
    const odd = await runCli(["screenshot", "../up"], { env, cwd });
    assert.equal(odd.code, 0, odd.stderr);
    assert.deepEqual(readdirSync(parent), ["here"]);
    assert.ok(readdirSync(cwd).some((name) => /^up-\d{8}T\d{6}\.png$/.test(name)), readdirSync(cwd).join(","));
  });

  test("a capture answer whose file URL leaves the coordinator is refused (the token is never sent elsewhere)", async () => {
    const cwd = join(work.path, "url");
    mkdirSync(cwd);
    for (const url of ["//elsewhere.example/x.png", "http://elsewhere.example/x.png", ".elsewhere.example/x.png"]) {
      fake.captureUrl = url;
      const refused = await runCli(["screenshot", "desk"], { env, cwd });
      assert.equal(refused.code, 1, `${url}: ${refused.stderr}`);
      assert.match(refused.stderr, /not a file on this coordinator/);
    }
    fake.captureUrl = "/api/v1/files/f1";
    assert.deepEqual(readdirSync(cwd), []);
  });

  test("every human-readable output escapes what the fleet sent; --json keeps it exact", async () => {
    const dir = join(work.path, "outputs");
    mkdirSync(dir);
    writeFileSync(join(dir, "local.txt"), "x");
    const cases: Array<[string[], boolean?]> = [
      [["health"]],
      [["nodes", "list"]],
      [["nodes", "show", "evil"]],
      [["nodes", "pending"]],
      [["nodes", "approve", "r1"]],
      [["nodes", "reject", "r1"]],
      [["nodes", "reject", "--all"]],
      [["nodes", "remove", "evil"]],
      [["nodes", "rotate", "evil"]],
      [["auto-approve"]],
      [["exec", "evil", "id"]],
      [["exec", "-f", "evil", "id"]],
      [["broadcast", "id"]],
      [["audit"]],
      [["token", "list"]],
      [["token", "create", "--name", "n", "--scope", "read"]],
      [["token", "revoke", "n"]],
      [["skills", "list"]],
      [["skills", "list", "evil"]],
      [["skills", "run", "evil", "s"]],
      [["info", "evil"]],
      [["tasks", "list"]],
      [["tasks", "show", "t1"]],
      [["tasks", "show", "skill1"]],
      [["tasks", "submit", "make"]],
      [["tasks", "submit", "make", "--follow"]],
      [["tasks", "logs", "-f", "t1"]],
      [["tasks", "cancel", "t1"]],
      [["dashboard", "--no-open"]],
      // Errors: the message of an unknown route quotes the fleet's text.
      [["tasks", "logs", "t1"]],
    ];
    for (const [args, shown] of cases) {
      const result = await runCli(args, { env, cwd: dir });
      assert.notEqual(result.code, null, args.join(" "));
      escaped(result, `ocf ${args.join(" ")}`, shown ?? true);
    }
    // The same answers as JSON: exact, control characters and all.
    const json = await runCli(["--json", "tasks", "show", "t1"], { env });
    const parsed = JSON.parse(json.stdout) as TaskView;
    assert.equal(parsed.reason, `reason${EVIL}`);
    assert.equal(parsed.attempts?.[0]?.error, `error${EVIL}`);
    assert.equal(parsed.command, `make test${EVIL}`);
  });
});

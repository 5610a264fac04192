import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { discoverEndpoint } from "../../src/client/discover.js";
import { collect, parseDuration, parseLabels } from "../../src/cli/context.js";
import { CliError, EXIT } from "../../src/cli/errors.js";
import { ago, labelsText, percent, printable, table } from "../../src/cli/format.js";
import { nodeDetails, pendingTable } from "../../src/cli/commands/nodes.js";
import { taskDetails } from "../../src/cli/commands/tasks.js";
import { broadcastText } from "../../src/cli/commands/broadcast.js";
import { localTarget, remoteFileName } from "../../src/cli/commands/cp.js";
import { defaultCaptureName } from "../../src/cli/commands/capture.js";
import type { BroadcastOutcome, JoinRequestView, NodeView, TaskView } from "../../src/protocol/api.js";
import { controlCharacterAt } from "../../src/protocol/text.js";
import { loadConfig, type LoadedConfig } from "../../src/config/load.js";
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from "../../src/util/files.js";
import { scratchDirs } from "../helpers/fixtures.js";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const SEED_FILE = join(REPO_ROOT, "config", "config.yaml");

const { freshDir } = scratchDirs("cli");

const mode = (path: string): number => statSync(path).mode & 0o777;

function cliError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CliError, `expected a CliError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected a CliError");
}

describe("parseDuration", () => {
  test("plain numbers are seconds; ms, s, m and h units", () => {
    assert.equal(parseDuration("30"), 30_000);
    assert.equal(parseDuration("30s"), 30_000);
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1h"), 3_600_000);
    assert.equal(parseDuration("1.5s"), 1500);
    assert.equal(parseDuration("0.5"), 500);
    assert.equal(parseDuration(" 10s "), 10_000, "surrounding spaces are ignored");
    assert.equal(parseDuration("1ms"), 1);
    assert.equal(parseDuration("24h"), 24 * 3_600_000);
  });

  test("bad values throw a CliError with the usage exit code (2)", () => {
    for (const bad of ["", "abc", "-1", "-5s", "5x", "s", "1.s", "10 s", "1d", "5sec", "0", "0s", "0.4ms", "25h", "1441m"]) {
      const error = cliError(() => parseDuration(bad));
      assert.equal(error.exitCode, 2, bad);
      assert.equal(error.exitCode, EXIT.usage);
    }
    assert.match(cliError(() => parseDuration("abc")).message, /--timeout "abc" is not a duration \(e\.g\. 30s, 500ms, 2m\)/);
    assert.match(cliError(() => parseDuration("soon", "--wait")).message, /^--wait "soon"/);
    assert.match(cliError(() => parseDuration("25h")).message, /--timeout must be between 1ms and 24h/);
  });
});

describe("parseLabels", () => {
  test("k=v, repeated flags and comma-separated pairs", () => {
    assert.deepEqual(parseLabels(undefined), {});
    assert.deepEqual(parseLabels([]), {});
    assert.deepEqual(parseLabels(["site=home"]), { site: "home" });
    assert.deepEqual(parseLabels(["site=home", "gpu=yes"]), { site: "home", gpu: "yes" });
    assert.deepEqual(parseLabels(["site=home,gpu=yes", "os=linux"]), { site: "home", gpu: "yes", os: "linux" });
    assert.deepEqual(parseLabels([" site=home , gpu=yes ,"]), { site: "home", gpu: "yes" });
    assert.deepEqual(parseLabels(["site=home", "site=office"]), { site: "office" }, "the last value wins");
    assert.deepEqual(parseLabels(["expr=a=b"]), { expr: "a=b" }, "only the first = splits");
    assert.deepEqual(parseLabels(["empty="]), { empty: "" });
  });

  test("a pair without key=value throws a usage CliError naming it", () => {
    for (const bad of ["site", "=home", "site=home,gpu"]) {
      const error = cliError(() => parseLabels([bad]));
      assert.equal(error.exitCode, EXIT.usage, bad);
    }
    assert.equal(cliError(() => parseLabels(["site=home", "=x"])).message, '--label "=x" must be key=value');
  });

  test("collect accumulates repeated option values", () => {
    assert.deepEqual(collect("a"), ["a"]);
    assert.deepEqual(collect("b", collect("a")), ["a", "b"]);
  });
});

describe("format", () => {
  test("table aligns columns to the widest cell, two spaces apart, without trailing spaces", () => {
    const text = table(
      ["ID", "STATUS", "NAME"],
      [
        ["home-server", "online", "Home"],
        ["pi", "offline", "Raspberry Pi"],
      ],
    );
    assert.equal(text, ["ID           STATUS   NAME", "home-server  online   Home", "pi           offline  Raspberry Pi"].join("\n"));
    const lines = text.split("\n");
    for (const line of lines) assert.equal(line, line.trimEnd());
    // Every column starts at the same offset on every line.
    const statusAt = lines[0]?.indexOf("STATUS");
    assert.equal(lines[1]?.indexOf("online"), statusAt);
    assert.equal(lines[2]?.indexOf("offline"), statusAt);
  });

  test("untrusted text is printed escaped: no cell can move the cursor, clear a line or reverse the text", () => {
    const hostile = "h\r\x1b[2K\x1b[1A\x1b[2K";
    assert.equal(printable(hostile), "h\\r\\x1b[2K\\x1b[1A\\x1b[2K");
    assert.equal(printable("a\tb\nc\u0000d\x7fe\u009bf\u202eg\u2069h"), "a\\tb\\nc\\x00d\\x7fe\\x9bf\\u202eg\\u2069h");
    assert.equal(printable("café 家 🐧 \\x1b"), "café 家 🐧 \\x1b", "plain text (and a literal backslash) is left alone");
    assert.equal(printable("line one\nline\x1b two", "\n"), "line one\nline\\x1b two", "kept characters stay");
    const text = table(["NAME", "HOSTNAME"], [["pi", hostile]]);
    assert.equal(controlCharacterAt(text.replaceAll("\n", "")), -1, "no control character reaches the terminal");
    assert.equal(text, "NAME  HOSTNAME\npi    h\\r\\x1b[2K\\x1b[1A\\x1b[2K");
    // A join request and a node stored before control characters were refused at the edge.
    const request = { request_id: "a9a6125e", node_id: "evil", name: "evil\u202e", hostname: hostile, os: "linux", arch: "x64", ips: ["1.2.3.4\x1b[0m"], labels: {}, capabilities: [], version: "0.1.0", public_key: "UA", fingerprint: "0000-0000-0000-0000", address: "127.0.0.9", status: "pending", reason: null, created_at: null, updated_at: null, decided_at: null } as JoinRequestView;
    assert.equal(controlCharacterAt(pendingTable([request]).replaceAll("\n", "")), -1);
    assert.match(pendingTable([request]), /h\\r\\x1b\[2K/);
    const node = { id: "evil", name: "evil\x1b]0;title\x07", status: "online", labels: {}, capabilities: ["shell.exec"], os: "linux", arch: "x64", hostname: hostile, ips: [], version: "1\u2066", fingerprint: "0000-0000-0000-0000", last_seen: null, approved_at: null, load: { cpu: null, memory: null, disk: null, running_tasks: 0, max_concurrent_tasks: 1 } } as NodeView;
    const details = nodeDetails(node);
    assert.equal(controlCharacterAt(details.replaceAll("\n", "")), -1);
    assert.match(details, /^name: +evil\\x1b\]0;title\\x07$/m);
  });

  test("ocf tasks show: a task's reason, attempt errors, command, node and submitter are escaped (a node writes the errors)", () => {
    const evil = "\x1b[2J\r\x1b[1A";
    const task = {
      id: "t1",
      state: "failed",
      kind: "command",
      command: `make${evil}`,
      skill: null,
      params: null,
      target: { node: `n${evil}` },
      requirements: {},
      priority: 0,
      timeout_ms: 2000,
      max_retries: 1,
      attempt: 1,
      failures: 1,
      node_id: `n${evil}`,
      exit_code: 3,
      reason: `why${evil}`,
      cancel_requested: false,
      submitted_by: `token:${evil}`,
      created_at: null,
      updated_at: null,
      started_at: null,
      finished_at: null,
      duration_ms: 12,
      attempts: [{ attempt: 1, node_id: `n${evil}`, state: "failed", assigned_at: null, started_at: null, finished_at: null, exit_code: 3, signal: null, stdout: null, stderr: null, truncated: false, output_file: false, error: `lost${evil}` }],
    } as TaskView;
    const text = taskDetails(task);
    assert.equal(controlCharacterAt(text.replaceAll("\n", "")), -1, text);
    assert.equal(
      text,
      [
        "t1: failed (why\\x1b[2J\\r\\x1b[1A)",
        "  command: make\\x1b[2J\\r\\x1b[1A",
        "  target: n\\x1b[2J\\r\\x1b[1A; priority 0; timeout 2s; retries 1/1",
        "  submitted by token:\\x1b[2J\\r\\x1b[1A never; ran 12 ms",
        "  attempt 1 on n\\x1b[2J\\r\\x1b[1A: failed (exit 3) — lost\\x1b[2J\\r\\x1b[1A",
      ].join("\n"),
    );
    const labelled = taskDetails({ ...task, target: { labels: { gpu: `yes${evil}` } }, attempts: [] });
    assert.match(labelled, /^ {2}target: gpu=yes\\x1b\[2J/m);
  });

  test("ocf broadcast: the header naming a node and ocf's notes are escaped, the node's output is not touched", () => {
    const outcome = {
      id: "b",
      command: "id",
      labels: {},
      results: [{ node: "evil\r\x1b[2K", node_id: "e1\x1b]0;t\x07", status: "error", exit_code: 1, signal: null, stdout: "out\x1b[1mbold", stderr: "", duration_ms: 3, truncated: false, error: { code: "internal", message: "bad\x1b[2J" } }],
      summary: { total: 1, ok: 0, error: 1, timeout: 0, offline: 0, duration_ms: 3 },
    } as BroadcastOutcome;
    const lines = broadcastText(outcome).split("\n");
    assert.equal(lines[0], "=== evil\\r\\x1b[2K (e1\\x1b]0;t\\x07): error, exit 1, 3 ms");
    assert.equal(lines[1], "out\x1b[1mbold", "remote output is printed as is, by design");
    assert.equal(lines[2], "[ocf] bad\\x1b[2J");
  });

  test("ocf cp names a copy after the path asked for; a request naming no file needs a local name", () => {
    assert.equal(remoteFileName("/tmp/report.txt"), "report.txt");
    assert.equal(remoteFileName("sub/report.txt/"), "report.txt");
    assert.equal(remoteFileName("C:\\Users\\me\\notes.txt"), "notes.txt");
    for (const none of ["/", ".", "..", "/tmp/..", "sub/.", "//"]) assert.equal(remoteFileName(none), undefined, none);
    const dir = freshDir();
    const isFolder = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();
    assert.equal(localTarget(dir, "/tmp/report.txt", isFolder), join(dir, "report.txt"));
    assert.equal(localTarget(`${dir}/`, "/etc/x/.bashrc", isFolder), join(dir, ".bashrc"), "the operator's own request is honoured");
    assert.equal(localTarget(join(dir, "mine.txt"), "/tmp/..", isFolder), join(dir, "mine.txt"));
    assert.match(cliError(() => localTarget(dir, "/tmp/..", isFolder)).message, /names no file to save it as here/);
    const missing = cliError(() => localTarget(join(dir, "nope") + "/", "/tmp/a.txt", isFolder));
    assert.equal(missing.exitCode, EXIT.usage);
    assert.match(missing.message, /is not a folder here/);
  });

  test("a picture's default file name comes from the node as typed, reduced to a plain name", () => {
    const at = new Date("2025-01-02T03:04:05.678Z");
    assert.equal(defaultCaptureName("desk", "png", at), "desk-20250102T030405.png");
    assert.equal(defaultCaptureName("My Laptop", "jpg", at), "My_Laptop-20250102T030405.jpg");
    assert.equal(defaultCaptureName("../../.bashrc", "png", at), "bashrc-20250102T030405.png");
    assert.equal(defaultCaptureName("...", "png", at), "node-20250102T030405.png");
  });

  test("table with no rows, short rows and a wide header", () => {
    assert.equal(table(["A", "B"], []), "A  B");
    assert.equal(table(["LONG HEADER", "X"], [["a", "b"]]), "LONG HEADER  X\na            b");
    assert.equal(table(["A", "B", "C"], [["1"]]), "A  B  C\n1");
  });

  test("ago", () => {
    const now = Date.parse("2025-01-01T12:00:00.000Z");
    const before = (ms: number): string => new Date(now - ms).toISOString();
    assert.equal(ago(null, now), "never");
    assert.equal(ago(before(0), now), "0s ago");
    assert.equal(ago(before(5_000), now), "5s ago");
    assert.equal(ago(before(59_000), now), "59s ago");
    assert.equal(ago(before(60_000), now), "1m ago");
    assert.equal(ago(before(90_000), now), "2m ago");
    assert.equal(ago(before(59 * 60_000), now), "59m ago");
    assert.equal(ago(before(3_600_000), now), "1h ago");
    assert.equal(ago(before(23 * 3_600_000), now), "23h ago");
    assert.equal(ago(before(2 * 86_400_000), now), "2d ago");
    assert.equal(ago(new Date(now + 10_000).toISOString(), now), "0s ago", "a time in the future is not negative");
    const recent = ago(new Date(Date.now() - 3000).toISOString());
    assert.match(recent, /^[2-4]s ago$/, "defaults to the current time");
  });

  test("percent and labelsText", () => {
    assert.equal(percent(null), "-");
    assert.equal(percent(41.6), "42%");
    assert.equal(percent(0), "0%");
    assert.equal(labelsText({}), "-");
    assert.equal(labelsText({ site: "home", gpu: "yes" }), "site=home,gpu=yes");
  });
});

describe("discoverEndpoint", () => {
  function configWith(stateDir: string, extra: Record<string, unknown> = {}): LoadedConfig {
    return loadConfig({ path: SEED_FILE, env: {}, overrides: { "coordinator.state_dir": stateDir, ...extra } });
  }

  test("with nothing else, the configured host and port; 0.0.0.0 becomes 127.0.0.1", () => {
    const stateDir = freshDir();
    const endpoint = discoverEndpoint(configWith(stateDir), {}, {});
    assert.equal(endpoint.url, "http://127.0.0.1:8888");
    assert.equal(endpoint.token, undefined);
    assert.match(endpoint.tokenSource, /^none \(no --token, no OCF_TOKEN, no .*admin\.token\)$/);
    assert.ok(endpoint.tokenSource.includes(join(stateDir, "admin.token")));
    assert.equal(discoverEndpoint(configWith(stateDir, { "coordinator.host": "::" }), {}, {}).url, "http://127.0.0.1:8888");
    assert.equal(discoverEndpoint(configWith(stateDir, { "coordinator.host": "10.0.0.5", "coordinator.port": 7000 }), {}, {}).url, "http://10.0.0.5:7000");
    assert.equal(discoverEndpoint(configWith(join(stateDir, "does-not-exist")), {}, {}).url, "http://127.0.0.1:8888");
  });

  test("the state dir's coordinator.json and admin.token beat the config", () => {
    const stateDir = freshDir();
    writeFileSync(join(stateDir, "coordinator.json"), JSON.stringify({ url: "http://100.64.0.1:9999", pid: 1 }));
    writeFileAtomic(join(stateDir, "admin.token"), "ocf_from_file\n", 0o600);
    const endpoint = discoverEndpoint(configWith(stateDir, { "coordinator.port": 7000 }), {}, {});
    assert.equal(endpoint.url, "http://100.64.0.1:9999");
    assert.equal(endpoint.token, "ocf_from_file", "trimmed");
    assert.equal(endpoint.tokenSource, join(stateDir, "admin.token"));
  });

  test("OCF_URL and OCF_TOKEN beat the state dir", () => {
    const stateDir = freshDir();
    writeFileSync(join(stateDir, "coordinator.json"), JSON.stringify({ url: "http://100.64.0.1:9999" }));
    writeFileAtomic(join(stateDir, "admin.token"), "ocf_from_file\n", 0o600);
    const endpoint = discoverEndpoint(configWith(stateDir), {}, { OCF_URL: "https://fleet.example:8443", OCF_TOKEN: "ocf_from_env" });
    assert.deepEqual(endpoint, { url: "https://fleet.example:8443", token: "ocf_from_env", tokenSource: "OCF_TOKEN" });
  });

  test("flags beat everything", () => {
    const stateDir = freshDir();
    writeFileSync(join(stateDir, "coordinator.json"), JSON.stringify({ url: "http://100.64.0.1:9999" }));
    writeFileAtomic(join(stateDir, "admin.token"), "ocf_from_file\n", 0o600);
    const endpoint = discoverEndpoint(configWith(stateDir), { url: "http://flag:1", token: "ocf_from_flag" }, { OCF_URL: "http://env:2", OCF_TOKEN: "ocf_from_env" });
    assert.deepEqual(endpoint, { url: "http://flag:1", token: "ocf_from_flag", tokenSource: "--token" });
  });

  test("--token-file: the token from a private file beats OCF_TOKEN; a file others can read, a missing or an empty one is refused", () => {
    const stateDir = freshDir();
    writeFileAtomic(join(stateDir, "admin.token"), "ocf_from_state\n", 0o600);
    const file = join(stateDir, "my.token");
    writeFileAtomic(file, "ocf_from_token_file\n", 0o600);
    const endpoint = discoverEndpoint(configWith(stateDir), { tokenFile: file }, { OCF_TOKEN: "ocf_from_env" });
    assert.equal(endpoint.token, "ocf_from_token_file", "trimmed");
    assert.equal(endpoint.tokenSource, `--token-file ${file}`);
    chmodSync(file, 0o644);
    assert.throws(() => discoverEndpoint(configWith(stateDir), { tokenFile: file }, {}), new RegExp(`^Error: --token-file: ${file} has mode 0644; it holds a secret and must be 0600 \\(run: chmod 600 ${file}\\)$`));
    chmodSync(file, 0o640);
    assert.throws(() => discoverEndpoint(configWith(stateDir), { tokenFile: file }, {}), /has mode 0640/);
    assert.throws(() => discoverEndpoint(configWith(stateDir), { tokenFile: join(stateDir, "nope") }, {}), /--token-file .*nope does not exist/);
    writeFileAtomic(file, " \n", 0o600);
    assert.throws(() => discoverEndpoint(configWith(stateDir), { tokenFile: file }, {}), /is empty/);
    writeFileAtomic(file, "ocf_a\nocf_b\n", 0o600);
    assert.throws(() => discoverEndpoint(configWith(stateDir), { tokenFile: file }, {}), /must hold the token alone/);
  });

  test("url and token are discovered independently", () => {
    const stateDir = freshDir();
    writeFileSync(join(stateDir, "coordinator.json"), JSON.stringify({ url: "http://100.64.0.1:9999" }));
    writeFileAtomic(join(stateDir, "admin.token"), "ocf_from_file\n", 0o600);
    const urlFlag = discoverEndpoint(configWith(stateDir), { url: "http://flag:1" }, {});
    assert.equal(urlFlag.url, "http://flag:1");
    assert.equal(urlFlag.token, "ocf_from_file");
    const tokenEnv = discoverEndpoint(configWith(stateDir), {}, { OCF_TOKEN: "ocf_from_env" });
    assert.equal(tokenEnv.url, "http://100.64.0.1:9999");
    assert.equal(tokenEnv.token, "ocf_from_env");
    const tokenFlag = discoverEndpoint(configWith(stateDir), { token: "t" }, { OCF_URL: "http://env:2" });
    assert.deepEqual([tokenFlag.url, tokenFlag.token], ["http://env:2", "t"]);
  });

  test("an unreadable coordinator.json falls back to the config", () => {
    const stateDir = freshDir();
    writeFileSync(join(stateDir, "coordinator.json"), "{ not json");
    assert.equal(discoverEndpoint(configWith(stateDir), {}, {}).url, "http://127.0.0.1:8888");
    writeFileSync(join(stateDir, "coordinator.json"), JSON.stringify({ pid: 1 }));
    assert.equal(discoverEndpoint(configWith(stateDir, { "coordinator.port": 7001 }), {}, {}).url, "http://127.0.0.1:7001");
  });

  test("a relative state_dir resolves against the config's base folder", () => {
    const root = freshDir();
    mkdirSync(join(root, "config"));
    mkdirSync(join(root, "state"));
    writeFileSync(join(root, "config", "config.yaml"), "coordinator:\n  state_dir: ./state\n");
    writeFileSync(join(root, "state", "coordinator.json"), JSON.stringify({ url: "http://relative:1" }));
    const loaded = loadConfig({ path: join(root, "config", "config.yaml"), env: {} });
    assert.equal(discoverEndpoint(loaded, {}, {}).url, "http://relative:1");
  });

  test("an admin.token readable by others is refused unless a token is given another way", () => {
    const stateDir = freshDir();
    const tokenFile = join(stateDir, "admin.token");
    writeFileSync(tokenFile, "ocf_leaky\n");
    chmodSync(tokenFile, 0o644);
    assert.throws(() => discoverEndpoint(configWith(stateDir), {}, {}), (error: Error) => error.message.includes(`chmod 600 ${tokenFile}`));
    assert.equal(discoverEndpoint(configWith(stateDir), {}, { OCF_TOKEN: "ocf_env" }).token, "ocf_env");
    assert.equal(discoverEndpoint(configWith(stateDir), { token: "ocf_flag" }, {}).token, "ocf_flag");
  });
});

describe("secret files", () => {
  test("readPrivateFile refuses a 0644 file, telling how to fix it", () => {
    const dir = freshDir();
    const file = join(dir, "secret");
    writeFileSync(file, "s3cret");
    chmodSync(file, 0o644);
    assert.throws(
      () => readPrivateFile(file),
      (error: Error) => error.message.includes("chmod 600") && error.message.includes(file) && error.message.includes("0644"),
    );
    for (const bad of [0o640, 0o604, 0o660, 0o666, 0o601]) {
      chmodSync(file, bad);
      assert.throws(() => readPrivateFile(file), /chmod 600/, bad.toString(8));
    }
  });

  test("readPrivateFile reads 0600 and 0400 files and answers undefined for a missing one", () => {
    const dir = freshDir();
    const file = join(dir, "secret");
    writeFileSync(file, "s3cret\n");
    chmodSync(file, 0o600);
    assert.equal(readPrivateFile(file), "s3cret\n");
    chmodSync(file, 0o400);
    assert.equal(readPrivateFile(file), "s3cret\n");
    assert.equal(readPrivateFile(join(dir, "missing")), undefined);
  });

  test("writeFileAtomic creates the file with mode 0600 (and its folders 0700)", () => {
    const dir = freshDir();
    const file = join(dir, "nested", "deeper", "token");
    writeFileAtomic(file, "value\n");
    assert.equal(readFileSync(file, "utf8"), "value\n");
    assert.equal(mode(file), 0o600);
    assert.equal(mode(join(dir, "nested")), 0o700);
    assert.equal(mode(join(dir, "nested", "deeper")), 0o700);
    assert.equal(readPrivateFile(file), "value\n");
    assert.deepEqual(readdirSync(join(dir, "nested", "deeper")), ["token"], "no temp file left behind");
  });

  test("writeFileAtomic replaces an existing file and tightens its mode", () => {
    const dir = freshDir();
    const file = join(dir, "token");
    writeFileSync(file, "old content that is longer\n");
    chmodSync(file, 0o644);
    writeFileAtomic(file, "new\n");
    assert.equal(readFileSync(file, "utf8"), "new\n");
    assert.equal(mode(file), 0o600);
    writeFileAtomic(file, "public\n", 0o644);
    assert.equal(mode(file), 0o644, "an explicit mode is honoured");
    assert.deepEqual(readdirSync(dir), ["token"]);
  });

  test("ensurePrivateDir creates a 0700 folder", () => {
    const dir = join(freshDir(), "a", "b");
    ensurePrivateDir(dir);
    assert.ok(existsSync(dir));
    assert.equal(mode(dir), 0o700);
    ensurePrivateDir(dir); // idempotent
  });
});

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ClientError } from "../../src/client/client.js";
import { TestFleet, waitFor } from "../helpers/fleet.js";

describe("exec through coordinator and worker", () => {
  const fleet = new TestFleet();
  let workdir = "";
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    workdir = join(fleet.dir, "work");
    mkdirSync(workdir, { recursive: true });
    await fleet.addApprovedWorker("home-server", { workdir, worker: { max_concurrent_tasks: 2 } });
  });
  after(() => fleet.close());

  test("exit codes, stdout and stderr come back as they are", async () => {
    const ok = await fleet.client.exec("home-server", "printf 'a\\nb\\n'; echo warn >&2");
    assert.equal(ok.status, "ok");
    assert.equal(ok.exit_code, 0);
    assert.equal(ok.stdout, "a\nb\n");
    assert.equal(ok.stderr, "warn\n");
    assert.equal(ok.truncated, false);
    assert.equal(ok.node, "home-server");
    assert.ok(ok.duration_ms >= 0);
    const failed = await fleet.client.exec("home-server", "echo oops >&2; exit 3");
    assert.equal(failed.status, "error");
    assert.equal(failed.exit_code, 3);
    assert.equal(failed.stderr, "oops\n");
    const missing = await fleet.client.exec("home-server", "definitely-not-a-command-xyz");
    assert.equal(missing.exit_code, 127);
  });

  test("commands run in the worker's working directory through /bin/sh", async () => {
    const result = await fleet.client.exec("home-server", "pwd; echo $0");
    assert.equal(result.stdout, `${workdir}\n/bin/sh\n`);
  });

  test("nodes are found by name forgivingly", async () => {
    assert.equal((await fleet.client.exec("Home Server", "echo hi")).stdout, "hi\n");
    assert.equal((await fleet.client.exec("HOME-SERVER", "echo hi")).stdout, "hi\n");
  });

  test("a timeout kills the command's whole process group, grandchildren included", async () => {
    const pidFile = join(workdir, "grandchild.pid");
    const started = Date.now();
    const result = await fleet.client.exec("home-server", `sh -c 'sleep 60 & echo $! > ${pidFile}; wait' & sleep 60`, 800);
    assert.equal(result.status, "timeout");
    assert.equal(result.exit_code, null);
    assert.equal(result.error?.code, "timeout");
    assert.ok(Date.now() - started < 10_000, "timed out promptly");
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    assert.ok(pid > 0);
    await waitFor("grandchild gone", () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000);
  });

  test("10 MiB of output is capped at 1 MiB per stream and flagged", async () => {
    const result = await fleet.client.exec("home-server", "head -c 10485760 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2");
    assert.equal(result.exit_code, 0);
    assert.equal(result.truncated, true);
    assert.equal(result.stdout.length, 1024 * 1024);
    assert.equal(result.stderr.length, 1024 * 1024);
    assert.match(result.stdout, /^a+$/);
  });

  test("max_concurrent_tasks: a busy node refuses clearly, no silent queue", async () => {
    const slow = [fleet.client.exec("home-server", "sleep 1.5; echo one"), fleet.client.exec("home-server", "sleep 1.5; echo two")];
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(fleet.client.exec("home-server", "echo three"), (error: Error) => {
      assert.ok(error instanceof ClientError);
      assert.equal(error.code, "node_busy");
      assert.equal(error.status, 409);
      assert.match(error.message, /2 of max_concurrent_tasks=2/);
      return true;
    });
    const done = await Promise.all(slow);
    assert.deepEqual(done.map((r) => r.stdout), ["one\n", "two\n"]);
    assert.equal((await fleet.client.exec("home-server", "echo free")).stdout, "free\n");
  });

  test("an offline node is refused with 409 node_offline", async () => {
    await fleet.addApprovedWorker("laptop");
    await fleet.stopWorker("laptop");
    await waitFor("laptop offline", async () => (await fleet.client.node("laptop")).status === "offline", 8000);
    await assert.rejects(fleet.client.exec("laptop", "true"), (error: Error) => error instanceof ClientError && error.code === "node_offline" && error.status === 409);
    assert.equal(existsSync(join(workdir, "never")), false);
  });

  test("SIGTERM on the worker kills running commands and reports them", async () => {
    const worker = await fleet.addApprovedWorker("shutdown-test");
    const pending = fleet.client.exec("shutdown-test", "sleep 30");
    await waitFor("command running", () => worker.runningCount === 1);
    const stopping = fleet.stopWorker("shutdown-test");
    const result = await pending;
    await stopping;
    assert.equal(result.status, "error");
    assert.equal(result.error?.code, "shutting_down");
    assert.ok(result.duration_ms < 10_000);
  });
});

describe("replies larger than the server's max_payload", () => {
  const fleet = new TestFleet();
  before(async () => {
    // A server with a small max payload (Debian's default is 1 MB; 64 KiB makes the point faster).
    await fleet.startNats(undefined, { maxPayloadBytes: 64 * 1024 });
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("small-pipe");
  });
  after(() => fleet.close());

  test("output is trimmed to fit and flagged, text and binary alike", async () => {
    const text = await fleet.client.exec("small-pipe", "head -c 1048576 /dev/zero | tr '\\0' a");
    assert.equal(text.exit_code, 0);
    assert.equal(text.truncated, true);
    assert.ok(text.stdout.length > 1000 && text.stdout.length < 64 * 1024, String(text.stdout.length));
    // NUL bytes escape to 6 bytes each in JSON: the trimming must still converge.
    const binary = await fleet.client.exec("small-pipe", "head -c 1048576 /dev/zero; head -c 300000 /dev/urandom >&2");
    assert.equal(binary.exit_code, 0);
    assert.equal(binary.truncated, true);
    assert.ok(binary.stdout.length > 0 && binary.stdout.length < 64 * 1024);
  });

  test("a broadcast result (published on the node's own subject) is trimmed the same way", async () => {
    const outcome = await fleet.client.broadcast("head -c 1048576 /dev/zero | tr '\\0' a");
    const [result] = outcome.results;
    assert.ok(result);
    assert.equal(result.status, "ok");
    assert.equal(result.truncated, true);
    assert.ok(result.stdout.length > 1000 && result.stdout.length < 64 * 1024, String(result.stdout.length));
  });
});

describe("the worker's own exec policy", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("locked", { worker: { exec_policy: "allowlist", exec_allowlist: ["uname *", "echo ok"] } });
    await fleet.addApprovedWorker("closed", { worker: { exec_policy: "deny" } });
    await fleet.addApprovedWorker("open", { worker: { exec_env: ["OCF_TEST_VISIBLE"] } });
  });
  after(() => fleet.close());

  test("allowlist: matching commands run, others are refused with 403 policy_denied", async () => {
    assert.equal((await fleet.client.exec("locked", "uname -s")).stdout, "Linux\n");
    for (const command of ["id", "uname -s; id", "echo ok && id", "echo $(id)"]) {
      await assert.rejects(fleet.client.exec("locked", command), (error: Error) => {
        assert.ok(error instanceof ClientError);
        assert.equal(error.code, "policy_denied", command);
        assert.equal(error.status, 403);
        return true;
      });
    }
  });

  test("deny refuses everything; broadcast reports it per node", async () => {
    await assert.rejects(fleet.client.exec("closed", "true"), (error: Error) => error instanceof ClientError && error.code === "policy_denied");
    const outcome = await fleet.client.broadcast("echo ok");
    const byId = Object.fromEntries(outcome.results.map((r) => [r.node_id, r]));
    assert.equal(byId.locked?.status, "ok");
    assert.equal(byId.open?.status, "ok");
    assert.equal(byId.closed?.status, "error");
    assert.equal(byId.closed?.error?.code, "policy_denied");
  });

  test("secrets in the worker's environment do not reach commands unless listed", async () => {
    process.env.OCF_TEST_SECRET = "s3cret-value";
    process.env.OCF_TEST_VISIBLE = "shown";
    try {
      const result = await fleet.client.exec("open", "echo ${OCF_TEST_SECRET:-unset} ${OCF_TEST_VISIBLE:-unset}; env | grep -c '^OCF_TOKEN=' || true");
      assert.equal(result.stdout, "unset shown\n0\n");
    } finally {
      delete process.env.OCF_TEST_SECRET;
      delete process.env.OCF_TEST_VISIBLE;
    }
  });
});

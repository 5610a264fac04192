import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { runShell } from "../../src/worker/shell.js";
import { tempDir, waitFor } from "../helpers/fleet.js";

const dir = tempDir();
after(() => dir.cleanup());
const base = { timeoutMs: 10_000, maxOutputBytes: 1024 * 1024, cwd: dir.path };

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("exit codes, stdout and stderr", async () => {
  const ok = await runShell("echo out; echo err >&2", base);
  assert.deepEqual([ok.exit_code, ok.stdout, ok.stderr, ok.truncated, ok.timed_out], [0, "out\n", "err\n", false, false]);
  assert.equal((await runShell("exit 7", base)).exit_code, 7);
  const killed = await runShell("kill -9 $$", base);
  assert.equal(killed.exit_code, null);
  assert.equal(killed.signal, "SIGKILL");
});

test("a timeout kills the whole process group, grandchildren included", async () => {
  const pidFile = join(dir.path, "gc.pid");
  const result = await runShell(`sh -c 'sleep 30 & echo $! > ${pidFile}; wait' & wait`, { ...base, timeoutMs: 500 });
  assert.equal(result.timed_out, true);
  assert.equal(result.exit_code, null);
  assert.ok(result.duration_ms < 5000, `took ${result.duration_ms} ms`);
  const pid = Number(readFileSync(pidFile, "utf8"));
  await waitFor("grandchild dead", () => !alive(pid), 3000);
});

test("a command that ignores SIGTERM is killed with SIGKILL after the grace", async () => {
  const result = await runShell("trap '' TERM; sleep 30", { ...base, timeoutMs: 300 });
  assert.equal(result.timed_out, true);
  assert.ok(result.duration_ms < 5000);
});

test("10 MiB of output is capped at the limit and flagged", async () => {
  const result = await runShell("head -c 10485760 /dev/zero | tr '\\0' a", base);
  assert.equal(result.exit_code, 0);
  assert.equal(result.stdout.length, 1024 * 1024);
  assert.equal(result.truncated, true);
});

test("abort kills the command", async () => {
  const controller = new AbortController();
  const pending = runShell("sleep 30", { ...base, signal: controller.signal });
  setTimeout(() => controller.abort(), 100);
  const result = await pending;
  assert.equal(result.aborted, true);
  assert.equal(result.exit_code, null);
});

test("background leftovers of a finished command are killed", async () => {
  const result = await runShell("sleep 30 & echo $!", base);
  assert.equal(result.exit_code, 0);
  const pid = Number(result.stdout.trim());
  await waitFor("leftover dead", () => !alive(pid), 3000);
});

test("a shell that cannot start reports spawn_error", async () => {
  const result = await runShell("true", { ...base, shell: "/nonexistent/sh" });
  assert.match(result.spawn_error ?? "", /ENOENT/);
  assert.equal(result.exit_code, null);
});

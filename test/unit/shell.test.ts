import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { spawn } from "node:child_process";
import { runProgram, runShell, type ShellOptions } from "../../src/worker/shell.js";

const dir = mkdtempSync(join(tmpdir(), "ocf-shell-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const base: ShellOptions = { timeoutMs: 10_000, maxOutputBytes: 1024 * 1024, cwd: dir };

/**
 * Whether a process still runs. process.kill(pid, 0) throws ESRCH once the process is gone. A killed
 * process whose parent died stays a zombie until the init process reaps it, and kill(pid, 0) still
 * succeeds on a zombie; on hosts whose PID 1 reaps lazily that can take a second or two, so a zombie
 * (state Z in /proc) counts as dead too: it has exited and runs nothing.
 */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, "ESRCH", `kill(${pid}, 0) failed with an unexpected error`);
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

async function waitUntilDead(pid: number, timeoutMs = 3000): Promise<number> {
  const started = Date.now();
  while (running(pid)) {
    if (Date.now() - started > timeoutMs) assert.fail(`process ${pid} still runs ${timeoutMs} ms later`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

/** Kill a pid a failed test may have leaked (best effort). */
function reap(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

describe("runShell", () => {
  test("the liveness probe used below sees a running process as running", () => {
    assert.equal(running(process.pid), true);
    assert.equal(running(2 ** 22 + 12345), false, "a pid above pid_max is never running");
  });

  test("exit code 0, stdout and stderr are captured separately", async () => {
    const ok = await runShell("echo out; echo err >&2", base);
    assert.equal(ok.exit_code, 0);
    assert.equal(ok.signal, null);
    assert.equal(ok.stdout, "out\n");
    assert.equal(ok.stderr, "err\n");
    assert.equal(ok.truncated, false);
    assert.equal(ok.timed_out, false);
    assert.equal(ok.aborted, false);
    assert.equal(ok.spawn_error, undefined);
    assert.ok(ok.duration_ms >= 0 && ok.duration_ms < 5000, String(ok.duration_ms));
  });

  test("a non-zero exit code is reported as is", async () => {
    const seven = await runShell("echo partial; echo oops >&2; exit 7", base);
    assert.equal(seven.exit_code, 7);
    assert.equal(seven.stdout, "partial\n");
    assert.equal(seven.stderr, "oops\n");
    assert.equal(seven.timed_out, false);
    assert.equal((await runShell("false", base)).exit_code, 1);
    assert.equal((await runShell("exit 255", base)).exit_code, 255);
    const notFound = await runShell("definitely-not-a-command-ocf", base);
    assert.equal(notFound.exit_code, 127);
    assert.match(notFound.stderr, /not found/);
  });

  test("a command killed by a signal reports the signal and no exit code", async () => {
    const killed = await runShell("kill -9 $$", base);
    assert.equal(killed.exit_code, null);
    assert.equal(killed.signal, "SIGKILL");
    assert.equal(killed.timed_out, false);
  });

  test("cwd and env are passed to the command", async () => {
    const result = await runShell('pwd; echo "$OCF_TEST_VALUE"', { ...base, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", OCF_TEST_VALUE: "hello" } });
    assert.equal(result.stdout, `${dir}\nhello\n`);
  });

  test("a timeout kills the command and its grandchildren", async () => {
    const pidFile = join(dir, "grandchild.pid");
    const started = Date.now();
    const result = await runShell(`sh -c 'sleep 30 & echo $! > ${pidFile}; sleep 30'`, { ...base, timeoutMs: 500 });
    const elapsed = Date.now() - started;
    assert.ok(existsSync(pidFile), "the grandchild wrote its pid");
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    assert.ok(Number.isInteger(pid) && pid > 1, `pid ${pid}`);
    try {
      assert.equal(result.timed_out, true);
      assert.equal(result.aborted, false);
      assert.equal(result.exit_code, null);
      assert.ok(result.signal === "SIGTERM" || result.signal === "SIGKILL", String(result.signal));
      assert.ok(elapsed >= 450, `returned after ${elapsed} ms, before the timeout`);
      assert.ok(elapsed < 3000, `returned after ${elapsed} ms`);
      await waitUntilDead(pid);
    } finally {
      reap(pid);
    }
  });

  test("a command that ignores SIGTERM is killed with SIGKILL after the grace", async () => {
    const result = await runShell("trap '' TERM; sleep 30; echo survived", { ...base, timeoutMs: 300 });
    assert.equal(result.timed_out, true);
    assert.equal(result.exit_code, null);
    assert.ok(!result.stdout.includes("survived"));
    assert.ok(result.duration_ms < 5000, `took ${result.duration_ms} ms`);
  });

  test("10 MiB of output is capped at 1 MiB, flagged, and finishes quickly", async () => {
    const started = Date.now();
    const result = await runShell("head -c 10485760 /dev/zero | tr '\\0' a", { ...base, maxOutputBytes: 1024 * 1024 });
    const elapsed = Date.now() - started;
    assert.equal(result.exit_code, 0);
    assert.equal(result.stdout.length, 1048576);
    assert.ok(/^a+$/.test(result.stdout));
    assert.equal(result.truncated, true);
    assert.equal(result.stderr, "");
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  });

  test("output exactly at the cap is not truncated; stderr has its own cap", async () => {
    const exact = await runShell("head -c 4096 /dev/zero | tr '\\0' b", { ...base, maxOutputBytes: 4096 });
    assert.equal(exact.stdout.length, 4096);
    assert.equal(exact.truncated, false);
    const noisy = await runShell("head -c 5000 /dev/zero | tr '\\0' e >&2; echo ok", { ...base, maxOutputBytes: 4096 });
    assert.equal(noisy.stdout, "ok\n");
    assert.equal(noisy.stderr.length, 4096);
    assert.equal(noisy.truncated, true);
  });

  test("abort through an AbortSignal kills the command", async () => {
    const controller = new AbortController();
    const pending = runShell("sleep 30", { ...base, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const started = Date.now();
    const result = await pending;
    assert.equal(result.aborted, true);
    assert.equal(result.timed_out, false);
    assert.equal(result.exit_code, null);
    assert.ok(Date.now() - started < 3000);
  });

  test("an already aborted signal stops the command at once", async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await runShell("sleep 30; echo late", { ...base, signal: controller.signal });
    assert.equal(result.aborted, true);
    assert.equal(result.exit_code, null);
    assert.equal(result.stdout, "");
    assert.ok(result.duration_ms < 3000, `took ${result.duration_ms} ms`);
  });

  test("a background leftover of a finished command is killed", async () => {
    const started = Date.now();
    const result = await runShell("sleep 30 & echo $!", base);
    assert.ok(Date.now() - started < 2000, "the command returns without waiting for its background job");
    assert.equal(result.exit_code, 0);
    const pid = Number(result.stdout.trim());
    assert.ok(Number.isInteger(pid) && pid > 1, `pid ${result.stdout}`);
    try {
      await waitUntilDead(pid);
    } finally {
      reap(pid);
    }
  });

  test("with onSpawn, nothing of the command runs before onSpawn returns; then it runs as usual in that process group", async () => {
    const marker = join(dir, "gate-marker");
    let pgid = 0;
    let seenEarly: boolean | undefined;
    const result = await runShell(`touch ${marker}; echo $$; cat; echo err >&2; exit 3`, {
      ...base,
      input: "from stdin\n",
      onSpawn: (id) => {
        pgid = id;
        const until = Date.now() + 300;
        while (Date.now() < until) {
          // hold the caller, as a slow journal write would
        }
        seenEarly = existsSync(marker);
      },
    });
    assert.equal(seenEarly, false, "the command ran before onSpawn returned");
    assert.ok(existsSync(marker));
    assert.equal(result.exit_code, 3);
    assert.equal(result.stdout, `${pgid}\nfrom stdin\n`, "the command is the process onSpawn was given");
    assert.equal(result.stderr, "err\n");
    const program = await runProgram("/bin/sh", ["-c", 'printf "%s|" "$@"; [ -e /proc/$$/fd/3 ] && echo fd3-open || echo fd3-closed', "x", "a b", "c"], { ...base, onSpawn: () => undefined });
    assert.equal(program.exit_code, 0);
    assert.equal(program.stdout, "a b|c|fd3-closed\n", "arguments pass unchanged and the gate's fd 3 is closed in the program");
  });

  test("a caller that dies inside onSpawn leaves the command not started and nothing running", async () => {
    const marker = join(dir, "never-started");
    const pidFile = join(dir, "gate-pid");
    const script = [
      `import { writeFileSync } from "node:fs";`,
      `const { runShell } = await import(${JSON.stringify(join(import.meta.dirname, "..", "..", "src", "worker", "shell.ts"))});`,
      `await runShell(${JSON.stringify(`touch ${marker}; sleep 30`)}, { timeoutMs: 60000, maxOutputBytes: 1000, onSpawn: (pid) => { writeFileSync(${JSON.stringify(pidFile)}, String(pid)); process.kill(process.pid, "SIGKILL"); } });`,
    ].join("\n");
    const caller = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: "ignore" });
    const signal = await new Promise((resolve) => caller.once("exit", (_code, sig) => resolve(sig)));
    assert.equal(signal, "SIGKILL");
    const pid = Number(readFileSync(pidFile, "utf8"));
    try {
      await waitUntilDead(pid);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(existsSync(marker), false, "the command started although its caller died before opening the gate");
    } finally {
      reap(pid);
    }
  });

  test("an onSpawn that throws (the journal could not be written) leaves the command not started and nothing running", async () => {
    const marker = join(dir, "not-journaled");
    let pid = 0;
    await assert.rejects(
      runShell(`touch ${marker}; sleep 30`, {
        ...base,
        onSpawn: (id) => {
          pid = id;
          throw new Error("ENOSPC: no space left on device");
        },
      }),
      /ENOSPC/,
    );
    try {
      await waitUntilDead(pid);
      assert.equal(existsSync(marker), false, "the command started although it was never journaled");
    } finally {
      reap(pid);
    }
  });

  test("a shell that cannot start reports spawn_error", async () => {
    const result = await runShell("true", { ...base, shell: "/nonexistent/sh" });
    assert.match(result.spawn_error ?? "", /ENOENT/);
    assert.equal(result.exit_code, null);
    assert.equal(result.timed_out, false);
    assert.equal(result.stdout, "");
  });

  test("a missing working directory reports spawn_error", async () => {
    const result = await runShell("true", { ...base, cwd: join(dir, "no-such-folder") });
    assert.match(result.spawn_error ?? "", /ENOENT/);
    assert.equal(result.exit_code, null);
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { commandEnv, decide, decideFileWrite, type ExecPolicy, type ExecPolicyMode } from "../../src/worker/policy.js";

const allowlist = (patterns: string[]): ExecPolicy => ({ mode: "allowlist", allowlist: patterns, env: [] });

test("full allows everything, deny nothing", () => {
  assert.deepEqual(decide({ mode: "full", allowlist: [], env: [] }, "rm -rf /tmp/x; echo $HOME"), { allowed: true });
  const denied = decide({ mode: "deny", allowlist: ["*"], env: [] }, "true");
  assert.equal(denied.allowed, false);
  assert.match(denied.allowed ? "" : denied.reason, /deny/);
});

test("allowlist: whole-command glob match", () => {
  const policy = allowlist(["df *", "uptime", "docker ps*", "uname -?"]);
  for (const ok of ["df -h", "uptime", "  uptime  ", "docker ps", "docker ps -a", "uname -a", "df  -h   /"]) assert.equal(decide(policy, ok).allowed, true, ok);
  for (const bad of ["rm -rf /", "uptimex", "sudo uptime", "uname -ar", "docker run x"]) {
    const verdict = decide(policy, bad);
    assert.equal(verdict.allowed, false, bad);
    assert.match(verdict.allowed ? "" : verdict.reason, /matches no pattern/);
  }
  assert.equal(decide(allowlist([]), "uptime").allowed, false);
});

test("allowlist: shell operators and substitutions cannot smuggle a second command", () => {
  const policy = allowlist(["df *", "uname *"]);
  for (const attack of ["uname; rm -rf /", "uname -a && reboot", "df -h | sh", "df $(rm -rf /)", "df `id`", "uname > /etc/passwd", "df -h\nreboot", "uname -a & reboot", "df ${HOME}", "df \\\nreboot"]) {
    const verdict = decide(policy, attack);
    assert.equal(verdict.allowed, false, attack);
    assert.match(verdict.allowed ? "" : verdict.reason, /shell operators/);
  }
});

test("pattern text is literal apart from * and ?", () => {
  const policy = allowlist(["cat /var/log/app.log"]);
  assert.equal(decide(policy, "cat /var/log/app.log").allowed, true);
  assert.equal(decide(policy, "cat /var/log/appXlog").allowed, false);
});

test("commands get a scrubbed environment: basics, LC_*, and listed names only", () => {
  const source = { PATH: "/usr/bin", HOME: "/home/w", LANG: "C.UTF-8", LC_ALL: "C", AWS_SECRET_ACCESS_KEY: "s3cret", OCF_TOKEN: "ocf_x", VISIBLE: "yes" };
  const env = commandEnv({ mode: "full", allowlist: [], env: ["VISIBLE"] }, source);
  assert.deepEqual(env, { PATH: "/usr/bin", HOME: "/home/w", LANG: "C.UTF-8", LC_ALL: "C", VISIBLE: "yes" });
});

describe("file writes follow exec_policy and worker.allow_file_writes", () => {
  const policy = (mode: ExecPolicyMode, fileWrites?: boolean): ExecPolicy => ({ mode, allowlist: [], env: [], fileWrites });

  test("unset: allowed under full, refused under allowlist naming the setting; deny refuses always", () => {
    assert.deepEqual(decideFileWrite(policy("full")), { allowed: true });
    const allowlist = decideFileWrite(policy("allowlist"));
    assert.equal(allowlist.allowed, false);
    assert.match(allowlist.allowed ? "" : allowlist.reason, /exec_policy is allowlist.*worker\.allow_file_writes: true/);
    for (const explicit of [undefined, true, false]) {
      const deny = decideFileWrite(policy("deny", explicit));
      assert.equal(deny.allowed, false);
      assert.match(deny.allowed ? "" : deny.reason, /exec_policy is deny/);
    }
  });

  test("explicit values win over the mode", () => {
    assert.deepEqual(decideFileWrite(policy("allowlist", true)), { allowed: true });
    const off = decideFileWrite(policy("full", false));
    assert.equal(off.allowed, false);
    assert.match(off.allowed ? "" : off.reason, /worker\.allow_file_writes is false/);
  });
});

/** The systemd units bin/deploy-federation.sh installs: placeholders filled, restart and hardening present. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/fleet.js";

function render(unit: string, nodeId = "", workerArgs = ""): string {
  const script = `. scripts/lib/runtime.sh; . scripts/lib/deploy.sh; render_unit deploy/systemd/${unit} "$1" "$2"`;
  return execFileSync("bash", ["-c", script, "render", nodeId, workerArgs], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: { ...process.env, OCF_ROOT: "/opt/ocf", DEPLOY_USER: "alice", DEPLOY_HOME: "/home/alice", ENV_FILE: "/home/alice/.config/openclaw-federation/worker.env" },
  });
}

describe("systemd units", () => {
  test("worker: runs bin/ocf worker as the user with the env file, restarts, no placeholder left", () => {
    const unit = render("openclaw-worker.service", "w1", "--label site=home ");
    assert.doesNotMatch(unit, /@[A-Z_]+@/);
    assert.match(unit, /^ExecStart=\/opt\/ocf\/bin\/ocf worker --node-id w1 --label site=home\s*$/m);
    assert.match(unit, /^User=alice$/m);
    assert.match(unit, /^Environment=HOME=\/home\/alice$/m);
    assert.match(unit, /^EnvironmentFile=\/home\/alice\/\.config\/openclaw-federation\/worker\.env$/m);
    assert.match(unit, /^Restart=always$/m);
    assert.match(unit, /^LimitNOFILE=65536$/m);
    assert.match(unit, /^WantedBy=multi-user\.target$/m);
  });

  test("coordinator and nats: hardened (NoNewPrivileges, read-only system), ordered, restarted", () => {
    const coordinator = render("openclaw-coordinator.service");
    const nats = render("openclaw-nats.service");
    for (const unit of [coordinator, nats]) {
      assert.doesNotMatch(unit, /@[A-Z_]+@/);
      for (const line of ["NoNewPrivileges=yes", "ProtectSystem=full", "PrivateTmp=yes", "Restart=always", "User=alice", "ReadWritePaths=-/opt/ocf -/home/alice"]) assert.ok(unit.includes(`\n${line}\n`), `${line} in\n${unit}`);
    }
    assert.match(coordinator, /^ExecStart=\/opt\/ocf\/bin\/ocf coordinator$/m);
    assert.match(coordinator, /^Requires=openclaw-nats\.service$/m);
    assert.match(nats, /^ExecStart=\/opt\/ocf\/scripts\/start_nats$/m);
  });
});

/**
 * Skills on a real fleet: the shipped examples (disk-usage, service-status) and test skills in a
 * worker's skills_dir, reported as capabilities, listed live, run with validated parameters through
 * the API, `ocf skills` and the agent tools; timeouts kill the process group; broken and unknown
 * skills, unmet requirements and exec policies are refused with the reason.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runTool } from "../../src/bridge/tools.js";
import { FleetClient } from "../../src/client/client.js";
import { REPO_ROOT, runCli, TestFleet, waitFor } from "../helpers/fleet.js";

type ApiError = Error & { code?: string; status?: number };

function addSkill(dir: string, name: string, manifest: string, script: string): void {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, "skill.yaml"), manifest);
  writeFileSync(join(dir, name, "run.sh"), script);
  chmodSync(join(dir, name, "run.sh"), 0o755);
}

describe("skills", () => {
  const fleet = new TestFleet();
  const skillsDir = join(fleet.dir, "skills");
  const marker = join(fleet.dir, "slow-child-survived");
  let env: NodeJS.ProcessEnv;

  before(async () => {
    cpSync(join(REPO_ROOT, "skills"), skillsDir, { recursive: true });
    addSkill(
      skillsDir,
      "echo-params",
      `description: Print what the skill received
run: ./run.sh
parameters:
  type: object
  additionalProperties: false
  properties:
    word: { type: string, default: hello }
    count: { type: integer, default: 1 }
`,
      '#!/bin/sh\necho "stdin: $(cat)"\necho "word=$OCF_PARAM_WORD count=$OCF_PARAM_COUNT skill=$OCF_SKILL"\necho "cwd=$(pwd)"\necho "secret=${OCF_TEST_SECRET:-unset}"\n',
    );
    addSkill(skillsDir, "slow", "description: Sleeps past its timeout\nrun: ./run.sh\ntimeout: 1\n", `#!/bin/sh\n(sleep 3; touch ${marker}) &\nsleep 30\n`);
    addSkill(skillsDir, "fails", "description: Exits 7\nrun: ./run.sh\n", "#!/bin/sh\necho bad >&2\nexit 7\n");
    addSkill(skillsDir, "needs-screen", "description: Needs a screen\nrun: ./run.sh\nrequires: [screen.capture]\n", "#!/bin/sh\ntrue\n");
    mkdirSync(join(skillsDir, "broken"));
    writeFileSync(join(skillsDir, "broken", "skill.yaml"), "description: Program is gone\nrun: ./gone.sh\n");

    await fleet.startNats();
    await fleet.startCoordinator();
    const headless = { ...process.env, DISPLAY: "", WAYLAND_DISPLAY: "", OCF_TEST_SECRET: "do-not-leak" };
    await fleet.addApprovedWorker("home", { worker: { skills_dir: skillsDir }, env: headless });
    await fleet.addApprovedWorker("locked", { worker: { skills_dir: skillsDir, exec_policy: "deny" }, env: headless });
    await fleet.addApprovedWorker("kiosk", { worker: { skills_dir: skillsDir, exec_policy: "allowlist", exec_allowlist: ["uptime"] }, env: headless });
    await fleet.addApprovedWorker("bare", { env: headless });
    env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
  });
  after(() => fleet.close());

  test("runnable skills are reported as skill:<name> capabilities (not broken ones, nor those missing a capability)", async () => {
    const caps = (await fleet.client.node("home")).capabilities;
    for (const name of ["disk-usage", "service-status", "echo-params", "slow", "fails"]) assert.ok(caps.includes(`skill:${name}`), `skill:${name} in ${caps.join(",")}`);
    assert.ok(!caps.includes("skill:broken"));
    assert.ok(!caps.includes("skill:needs-screen"));
    assert.deepEqual((await fleet.client.node("bare")).capabilities, ["shell.exec"]);
    const list = await runCli(["nodes", "list"], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /CAPABILITIES/);
    assert.match(list.stdout, /^home .* shell,5 skills$/m);
    assert.match(list.stdout, /^bare .* shell$/m);
    const show = await runCli(["nodes", "show", "home"], { env });
    assert.match(show.stdout, /^capabilities: shell\.exec$/m);
    assert.match(show.stdout, /^skills: +(?=.*disk-usage)(?=.*service-status)(?=.*echo-params).*$/m);
  });

  test("skills list: one node live with its problems, or every node", async () => {
    const [home] = await fleet.client.skills("home");
    assert.equal(home?.status, "ok");
    const disk = home?.skills.find((s) => s.name === "disk-usage");
    assert.match(disk?.description ?? "", /Free and used space/);
    assert.equal((disk?.parameters.properties as Record<string, { default?: unknown }>).path?.default, "/");
    assert.equal(home?.skills.find((s) => s.name === "needs-screen")?.available, false);
    assert.match(home?.problems.find((p) => p.folder === "broken")?.error ?? "", /run: \.\/gone\.sh does not exist/);
    const all = await fleet.client.skills();
    assert.deepEqual(all.map((n) => n.node_id).sort(), ["bare", "home", "kiosk", "locked"]);
    assert.deepEqual(all.find((n) => n.node_id === "bare")?.skills, []);

    const cli = await runCli(["skills", "list", "home"], { env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /disk-usage — Free and used space/);
    assert.match(cli.stdout, /params: path \(string, default "\/"\): A folder on the machine; top \(integer, default 5\)/);
    assert.match(cli.stdout, /service-status — .*\n\s+params: service \(string, required\)/);
    assert.match(cli.stdout, /needs-screen — Needs a screen \[unavailable: needs screen\.capture \(no display/);
    assert.match(cli.stdout, /! broken: not loaded: .*gone\.sh does not exist/);
  });

  test("disk-usage runs with validated parameters; ocf skills run exits with the skill's code", async () => {
    const result = await fleet.client.runSkill("home", "disk-usage", { path: fleet.dir, top: "2" });
    assert.equal(result.status, "ok", result.stderr);
    assert.equal(result.exit_code, 0);
    assert.deepEqual(result.params, { path: fleet.dir, top: 2 });
    assert.match(result.stdout, /^Filesystem\s+Size\s+Used/m);
    assert.match(result.stdout, new RegExp(`largest folders in ${fleet.dir}:`));

    const cli = await runCli(["skills", "run", "home", "disk-usage", "--param", `path=${fleet.dir}`, "-p", "top=0"], { env });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /^Filesystem/m);
    const missing = await runCli(["skills", "run", "home", "disk-usage", "-p", `path=${join(fleet.dir, "nope")}`], { env });
    assert.equal(missing.code, 2, "the skill's own exit code");
    assert.match(missing.stderr, /is not a folder/);
    const json = await runCli(["--json", "skills", "run", "home", "fails"], { env });
    assert.equal(json.code, 7);
    assert.equal((JSON.parse(json.stdout) as { status: string; stderr: string }).stderr, "bad\n");
  });

  test("service-status: a required parameter, and a pattern that keeps shell text out", async () => {
    const result = await fleet.client.runSkill("home", "service-status", { service: "definitely-not-a-service-xyz" });
    assert.notEqual(result.exit_code, 0);
    await assert.rejects(fleet.client.runSkill("home", "service-status", {}), (error: ApiError) => {
      assert.equal(error.code, "bad_request");
      assert.equal(error.status, 400);
      assert.match(error.message, /skill "service-status": missing parameter service/);
      return true;
    });
    await assert.rejects(fleet.client.runSkill("home", "service-status", { service: "ssh; touch /tmp/pwned" }), /parameter service: must match pattern/);
    await assert.rejects(fleet.client.runSkill("home", "disk-usage", { top: "lots" }), /parameter top: must be integer/);
    await assert.rejects(fleet.client.runSkill("home", "disk-usage", { colour: "red" }), /unknown parameter colour/);
  });

  test("service-status without systemd shows PIDs and process names, never a process's arguments (an exec token must not read command lines)", async () => {
    // A process with a name of its own (a copy of sh) whose command line holds a secret, as a
    // `curl -H "Authorization: Bearer ..."` or a worker's arguments would.
    const name = `ocfsvc${randomBytes(3).toString("hex")}`;
    const program = join(fleet.dir, name);
    copyFileSync("/bin/sh", program);
    chmodSync(program, 0o755);
    const secret = `ocft_${randomBytes(12).toString("hex")}`;
    const child = spawn(program, ["-c", "sleep 300; :", name, `--header=Authorization: Bearer ${secret}`], { stdio: "ignore" });
    try {
      await waitFor("the process to run under its own name", () => readFileSync(`/proc/${child.pid}/comm`, "utf8").trim() === name);
      const result = await fleet.client.runSkill("home", "service-status", { service: name });
      assert.equal(result.status, "ok", result.stderr);
      assert.equal(result.exit_code, 0, result.stdout);
      assert.match(result.stdout, /systemd is not running here/, "this test machine has no systemd; the other branch is in unit/skills.test.ts");
      assert.match(result.stdout, new RegExp(`^${child.pid} ${name}$`, "m"));
      assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), result.stdout);
      assert.ok(!result.stdout.includes("Authorization") && !result.stdout.includes("sleep 300"), result.stdout);
      const cli = await runCli(["skills", "run", "home", "service-status", "-p", `service=${name}`], { env });
      assert.equal(cli.code, 0, cli.stderr);
      assert.ok(!cli.stdout.includes(secret), cli.stdout);
      // A dot in the name is a dot, not any character.
      const dotted = await fleet.client.runSkill("home", "service-status", { service: `${name.slice(0, -1)}.` });
      assert.equal(dotted.exit_code, 3, dotted.stdout);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("parameters reach the program on stdin and in the environment, defaults filled; the worker's own environment does not", async () => {
    const result = await fleet.client.runSkill("home", "echo-params", { count: 3 });
    assert.equal(result.status, "ok", result.stderr);
    assert.match(result.stdout, /stdin: \{"count":3,"word":"hello"\}/);
    assert.match(result.stdout, /word=hello count=3 skill=echo-params/);
    assert.match(result.stdout, new RegExp(`cwd=${join(skillsDir, "echo-params")}`));
    assert.match(result.stdout, /secret=unset/);
  });

  test("a skill past its manifest timeout is killed with its whole process group → 504 timeout", async () => {
    const started = Date.now();
    // The API answers 504 with the result (output so far, the error); the client hands it back.
    const result = await fleet.client.runSkill("home", "slow");
    assert.equal(result.status, "timeout");
    assert.equal(result.error?.code, "timeout");
    assert.match(result.error?.message ?? "", /skill "slow" timed out after 1000 ms; its process group was killed/);
    assert.ok(Date.now() - started < 20_000);
    const cli = await runCli(["skills", "run", "home", "slow"], { env });
    assert.equal(cli.code, 124);
    assert.match(cli.stderr, /timed out after 1000 ms; its process group was killed/);
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal(existsSync(marker), false, "the skill's background child was killed with it");
  });

  test("unknown, broken and unrunnable skills: 404 / 409 with the reason", async () => {
    await assert.rejects(fleet.client.runSkill("home", "nope"), (error: ApiError) => {
      assert.equal(error.code, "not_found");
      assert.match(error.message, /no skill "nope" on home \(it has: disk-usage, echo-params, fails, needs-screen, service-status, slow\)/);
      return true;
    });
    await assert.rejects(fleet.client.runSkill("home", "broken"), /skill "broken" is broken on home: .*gone\.sh does not exist/);
    await assert.rejects(fleet.client.runSkill("home", "needs-screen"), (error: ApiError) => {
      assert.equal(error.code, "capability_unavailable");
      assert.match(error.message, /needs screen\.capture \(no display/);
      return true;
    });
    await assert.rejects(fleet.client.runSkill("bare", "disk-usage"), /no skill "disk-usage" on bare \(it has: none\)/);
    await assert.rejects(fleet.client.runSkill("home", "Bad Name!"), /no skill/);
  });

  test("exec_policy: deny refuses skills; allowlist lets the node's own skills run while refusing other commands", async () => {
    await assert.rejects(fleet.client.runSkill("locked", "disk-usage"), (error: ApiError) => {
      assert.equal(error.code, "policy_denied");
      assert.match(error.message, /skill\.run included/);
      return true;
    });
    assert.equal((await fleet.client.skills("locked"))[0]?.status, "ok", "listing is not an action");
    const kiosk = await fleet.client.runSkill("kiosk", "echo-params");
    assert.equal(kiosk.status, "ok");
    await assert.rejects(fleet.client.exec("kiosk", "echo hi"), (error: ApiError) => error.code === "policy_denied");
  });

  test("scopes: a read token lists skills but may not run one; every run is audited", async () => {
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: (await fleet.client.createToken("skills-reader", "read")).token });
    assert.equal((await reader.skills("home"))[0]?.status, "ok");
    await assert.rejects(reader.runSkill("home", "echo-params"), /needs "exec"/);
    const audit = await fleet.client.audit({ action: "skill.run", limit: 50 });
    assert.ok(audit.some((entry) => entry.node_id === "home" && entry.status === "ok" && (entry.command ?? "").startsWith("disk-usage ")));
    assert.ok(audit.some((entry) => entry.status === "policy_denied"));
  });

  test("a skill added while the worker runs is offered without a restart", async () => {
    addSkill(skillsDir, "fresh", "description: Added later\nrun: ./run.sh\n", "#!/bin/sh\necho fresh\n");
    assert.ok((await fleet.client.skills("home"))[0]?.skills.some((s) => s.name === "fresh"));
    await waitFor("skill:fresh in home's capabilities", async () => (await fleet.client.node("home")).capabilities.includes("skill:fresh"), 15_000);
    assert.equal((await fleet.client.runSkill("home", "fresh")).stdout, "fresh\n");
  });

  test("the agent's fleet_skills and fleet_skill", async () => {
    const listed = await runTool(fleet.client, "fleet_skills", { node: "home" });
    assert.equal(listed.isError, false, listed.text);
    assert.match(listed.text, /disk-usage — Free and used space/);
    const ran = await runTool(fleet.client, "fleet_skill", { node: "Home", skill: "echo-params", params: { word: "agent" } });
    assert.equal(ran.isError, false, ran.text);
    assert.match(ran.text, /home: ok, exit code 0/);
    assert.match(ran.text, /word=agent count=1/);
    assert.equal(ran.details.exitCode, 0);
    const bad = await runTool(fleet.client, "fleet_skill", { node: "home", skill: "service-status", params: {} });
    assert.equal(bad.isError, true);
    assert.match(bad.text, /missing parameter service/);
  });
});

/**
 * The seed's deployment on a real multi-host network built from namespaces (root only): a master
 * and three machines on 100.64.0.0/24, each with its own HOME and a stand-in `tailscale` that
 * prints its address. The real scripts run in each: bin/deploy-federation.sh master|worker|hybrid
 * (supervised mode: no systemd here), bin/manage-federation.sh approves and drives the fleet.
 * Checked: every worker online; exec and broadcast answer from each host (its own address);
 * a cut link → offline within heartbeat_timeout and broadcast says so; healing brings it back;
 * re-running a deploy changes nothing; worker stops a local gateway, hybrid keeps it;
 * uninstall stops everything.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/fleet.js";
import { Network, netnsUnavailable, type Host } from "../helpers/netns.js";

/** The deploy must find dependencies and build current: it would otherwise reinstall them under the running suite. */
function installNotCurrent(): string | undefined {
  const check = spawnSync("bash", ["-c", ". scripts/lib/runtime.sh && ocf_deps_current && ocf_build_current"], { cwd: REPO_ROOT, env: { ...process.env, OCF_ROOT: REPO_ROOT } });
  return check.status === 0 ? undefined : "npm dependencies or the build are not current (run: npm ci && npm run build)";
}

const SKIP = netnsUnavailable() ?? installNotCurrent();
if (SKIP) console.log(`\n[deploy-multihost] SKIPPED — ${SKIP}\n`);

interface Run {
  code: number | null;
  out: string;
}

describe("deploy on a multi-host network (namespaces)", { skip: SKIP, timeout: 300_000 }, () => {
  let net: Network;
  const dir = mkdtempSync(join(tmpdir(), "ocf-deploy-"));
  const hosts: Record<string, Host> = {};
  /** The stand-in gateways, as child processes: their exit is known for sure (a pid could be reused). */
  const gateways: Record<string, ChildProcess> = {};
  const requests: Record<string, string> = {};
  const transcript: string[] = [];

  const home = (name: string): string => join(dir, name, "home");
  const envOf = (name: string): NodeJS.ProcessEnv => {
    const { OCF_CONFIG: _c, OCF_URL: _u, OCF_TOKEN: _t, ...rest } = process.env;
    return { ...rest, HOME: home(name), PATH: `${join(dir, name, "bin")}:${process.env.PATH ?? ""}`, OCF_LOG_CONSOLE: "none" };
  };

  /** Run a shell command on a host (inside its namespace, with its HOME and PATH). */
  const on = (name: string, command: string, timeoutMs = 120_000): Promise<Run> =>
    new Promise((resolve, reject) => {
      const host = hosts[name] as Host;
      const child = spawn("ip", ["netns", "exec", host.ns, "bash", "-c", command], { cwd: REPO_ROOT, env: envOf(name), stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${name}: "${command}" did not finish in ${timeoutMs} ms:\n${out}`));
      }, timeoutMs);
      child.once("exit", (code) => {
        clearTimeout(timer);
        transcript.push(`--- ${name}$ ${command}  (exit ${code})\n${out.trimEnd()}`);
        resolve({ code, out });
      });
    });

  const poll = async (what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> => {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      if (await check()) return Date.now() - started;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`${what}: not within ${timeoutMs} ms`);
  };
  const running = (child: ChildProcess | undefined): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
  const nodes = async (): Promise<Array<{ id: string; status: string }>> => {
    const run = await on("master", "bin/manage-federation.sh list --json");
    assert.equal(run.code, 0, run.out);
    return JSON.parse(run.out) as Array<{ id: string; status: string }>;
  };

  const MASTER_SETS = ["coordinator.heartbeat_timeout=4", "coordinator.heartbeat_check_interval=1"];
  const masterCommand = (): string =>
    `bin/deploy-federation.sh master --bind 100.64.0.1 ${[...MASTER_SETS, `storage.path=${join(dir, "master", "data", "cluster.db")}`, `log.dir=${join(dir, "master", "logs")}`].map((s) => `--set ${s}`).join(" ")}`;

  before(() => {
    net = new Network();
    for (const name of ["master", "w1", "w2", "hy"]) {
      hosts[name] = net.addHost(name);
      const bin = join(dir, name, "bin");
      mkdirSync(bin, { recursive: true });
      mkdirSync(home(name), { recursive: true });
      // Stand-in tailscale: this host's tailnet address.
      writeFileSync(join(bin, "tailscale"), `#!/bin/sh\ncase "$1" in\n  ip) echo ${hosts[name]?.address} ;;\n  status) echo "${hosts[name]?.address}  ${name}  linux  -" ;;\n  *) exit 0 ;;\nesac\n`);
      // Stand-in OpenClaw gateway (a process titled openclaw-gateway, as the real one).
      writeFileSync(join(bin, "openclaw-gateway"), "#!/bin/bash\nwhile :; do sleep 1; done\n");
      chmodSync(join(bin, "tailscale"), 0o755);
      chmodSync(join(bin, "openclaw-gateway"), 0o755);
    }
  });

  after(async () => {
    for (const name of Object.keys(hosts)) await on(name, "bin/deploy-federation.sh uninstall >/dev/null 2>&1 || true").catch(() => undefined);
    for (const child of Object.values(gateways)) if (running(child)) child.kill("SIGKILL");
    net?.destroy();
    if (process.env.OCF_DEPLOY_TRANSCRIPT) writeFileSync(process.env.OCF_DEPLOY_TRANSCRIPT, `${transcript.join("\n")}\n`);
    rmSync(dir, { recursive: true, force: true });
  });

  test("master: installs what is missing, starts nats-server and the coordinator, ends with its IP and the worker command", async () => {
    const dry = await on("master", `${masterCommand()} --dry-run`);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /would {4}settings: /);
    assert.match(dry.out, /Dry run: \d+ change\(s\) would be made; nothing was changed\./);
    assert.equal(existsSync(join(home("master"), ".config", "openclaw-federation", "master.env")), false, "a dry run writes nothing");
    const run = await on("master", masterCommand());
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /Tailscale address 100\.64\.0\.1/);
    assert.match(run.out, /Services \(supervised\)/);
    assert.match(run.out, /coordinator healthy on http:\/\/100\.64\.0\.1:8888/);
    assert.match(run.out, new RegExp(`Admin token: ${home("master")}/\\.openclaw-federation/coordinator/admin\\.token`));
    const lines = run.out.trimEnd().split("\n");
    assert.match(lines.at(-4) ?? "", /^Master IP: 100\.64\.0\.1$/);
    assert.match(lines.at(-2) ?? "", /^ {2}bin\/deploy-federation\.sh worker 100\.64\.0\.1$/);
    assert.equal(statSync(join(home("master"), ".config", "openclaw-federation", "master.env")).mode & 0o777, 0o600);
  });

  test("bad input is refused before anything changes: unknown --set key, bad value, missing master IP", async () => {
    const unknown = await on("master", "bin/deploy-federation.sh master --set coordinator.heartbeat_timout=5");
    assert.equal(unknown.code, 1);
    assert.match(unknown.out, /--set coordinator\.heartbeat_timout: there is no such configuration key/);
    const bad = await on("master", "bin/deploy-federation.sh master --set coordinator.port=eighty");
    assert.equal(bad.code, 1);
    assert.match(bad.out, /OCF_COORDINATOR_PORT: coordinator\.port = "eighty" is invalid: expected number/);
    const missing = await on("w1", "bin/deploy-federation.sh worker");
    assert.equal(missing.code, 2);
    assert.match(missing.out, /needs the master's IP/);
  });

  test("master again: nothing changes", async () => {
    const run = await on("master", masterCommand());
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, /Nothing changed: already deployed as asked\./);
    assert.doesNotMatch(run.out, /changed {2}/);
  });

  test("worker and hybrid join; worker stops the local gateway, hybrid keeps it in its own state dir", async () => {
    for (const name of ["w1", "hy"]) {
      gateways[name] = spawn("ip", ["netns", "exec", (hosts[name] as Host).ns, join(dir, name, "bin", "openclaw-gateway")], { env: envOf(name), stdio: "ignore" });
    }
    const sets = `--set worker.heartbeat_interval=1 --set log.dir=${dir}/LOGS`;
    for (const [name, role] of [["w1", "worker"], ["w2", "worker"], ["hy", "hybrid"]] as const) {
      const run = await on(name, `bin/deploy-federation.sh ${role} 100.64.0.1 --node-id ${name} --label role=${role} ${sets.replace("LOGS", `${name}/logs`)}`);
      assert.equal(run.code, 0, run.out);
      assert.match(run.out, /coordinator at http:\/\/100\.64\.0\.1:8888 \(ok\)/);
      const asked = /Node (\S+) asked to join \(request ([0-9a-f]{8})\)\.\nOn the master, approve it: {2}bin\/manage-federation\.sh approve \2/.exec(run.out);
      assert.ok(asked, run.out);
      assert.equal(asked[1], name);
      requests[name] = asked[2] as string;
      if (name === "w1") assert.match(run.out, /changed {2}stop the local OpenClaw gateway \(pid \d+\): this machine is a worker now/);
      if (name === "hy") assert.match(run.out, /keeping the local gateway \(pid \d+\): hybrid/);
    }
    await poll("w1's gateway has exited", async () => !running(gateways.w1), 5000);
    assert.equal(running(gateways.hy), true, "hybrid kept the local gateway");
    const isolated = join(home("hy"), ".openclaw-worker");
    assert.equal(statSync(isolated).mode & 0o777, 0o700);
    assert.ok(existsSync(join(isolated, "identity.seed")) || existsSync(join(isolated, "node.json")));
  });

  test("manage-federation.sh: pending shows the requests; approve brings every worker online", async () => {
    const pending = await on("master", "bin/manage-federation.sh pending");
    assert.equal(pending.code, 0, pending.out);
    for (const [name, request] of Object.entries(requests)) assert.match(pending.out, new RegExp(`${request}\\s+${name}`));
    for (const request of Object.values(requests)) {
      const approve = await on("master", `bin/manage-federation.sh approve ${request}`);
      assert.equal(approve.code, 0, approve.out);
    }
    await poll("w1, w2, hy online", async () => {
      const list = await nodes();
      return ["w1", "w2", "hy"].every((id) => list.find((n) => n.id === id)?.status === "online");
    }, 30_000);
    const list = await on("master", "bin/manage-federation.sh list");
    assert.match(list.out, /^w1\s+w1\s+online/m);
  });

  test("exec and broadcast answer from each host (its own address)", async () => {
    for (const name of ["w1", "w2", "hy"]) {
      const run = await on("master", `bin/manage-federation.sh exec ${name} "hostname -I"`);
      assert.equal(run.code, 0, run.out);
      assert.match(run.out, new RegExp(`\\b${(hosts[name] as Host).address.replaceAll(".", "\\.")}\\b`));
    }
    const all = await on("master", `bin/manage-federation.sh broadcast "hostname -I" --json`);
    assert.equal(all.code, 0, all.out);
    const outcome = JSON.parse(all.out) as { results: Array<{ node_id: string; status: string; stdout: string }> };
    for (const name of ["w1", "w2", "hy"]) {
      const result = outcome.results.find((r) => r.node_id === name);
      assert.equal(result?.status, "ok", all.out);
      assert.ok(result?.stdout.includes((hosts[name] as Host).address), `${name} answered ${result?.stdout}`);
    }
  });

  test("a cut link marks the worker offline within heartbeat_timeout + check interval; broadcast says offline; healing brings it back", async () => {
    const w2 = hosts.w2 as Host;
    net.cut(w2);
    // heartbeat_timeout 4 s + check interval 1 s, plus the 1 s heartbeat and the poll step.
    const took = await poll("w2 offline", async () => (await nodes()).find((n) => n.id === "w2")?.status === "offline", 15_000);
    transcript.push(`--- w2 marked offline ${took} ms after its link was cut`);
    assert.ok(took <= 8_000, `offline after ${took} ms`);
    const all = await on("master", `bin/manage-federation.sh broadcast "true" --json`);
    const outcome = JSON.parse(all.out) as { results: Array<{ node_id: string; status: string }> };
    assert.equal(outcome.results.find((r) => r.node_id === "w2")?.status, "offline");
    assert.equal(outcome.results.find((r) => r.node_id === "w1")?.status, "ok");
    net.heal(w2);
    await poll("w2 back online", async () => (await nodes()).find((n) => n.id === "w2")?.status === "online", 60_000);
    const back = await on("master", `bin/manage-federation.sh exec w2 "hostname -I"`);
    assert.match(back.out, /100\.64\.0\.3/);
  });

  test("the supervisor restarts a worker that dies (kill -9)", async () => {
    const supervisor = Number(readFileSync(join(home("w1"), ".config", "openclaw-federation", "run", "openclaw-worker.pid"), "utf8"));
    const childOf = (): number | undefined => {
      const run = spawnSync("pgrep", ["-P", String(supervisor)], { encoding: "utf8" });
      return run.stdout.trim().split("\n").map(Number).find((pid) => pid > 0);
    };
    const first = childOf();
    assert.ok(first, "the worker runs under its supervisor");
    process.kill(first, "SIGKILL");
    await poll("a new worker process", async () => {
      const next = childOf();
      return next !== undefined && next !== first;
    }, 15_000);
    await poll("w1 answers again", async () => (await on("master", `bin/manage-federation.sh exec w1 "echo back"`)).out.includes("back"), 30_000);
    assert.match(readFileSync(join(dir, "w1", "logs", "worker.out"), "utf8"), /\[supervise\] exited with code 137; restarting in 1s/);
  });

  test("re-running worker and hybrid deploys changes nothing (same processes)", async () => {
    for (const [name, role] of [["w1", "worker"], ["hy", "hybrid"]] as const) {
      const pidFile = join(home(name), ".config", "openclaw-federation", "run", "openclaw-worker.pid");
      const before = readFileSync(pidFile, "utf8");
      const run = await on(name, `bin/deploy-federation.sh ${role} 100.64.0.1 --node-id ${name} --label role=${role} --set worker.heartbeat_interval=1 --set log.dir=${dir}/${name}/logs`);
      assert.equal(run.code, 0, run.out);
      assert.match(run.out, /Nothing changed: already deployed as asked\./);
      assert.match(run.out, new RegExp(`Node ${name} is approved and connected to 100\\.64\\.0\\.1\\.`));
      assert.equal(readFileSync(pidFile, "utf8"), before);
    }
    assert.equal(running(gateways.hy), true);
  });

  test("a worker that cannot reach the master is told what to check", async () => {
    const run = await on("w1", "bin/deploy-federation.sh worker 100.64.0.99 --node-id w1 --dry-run");
    // --dry-run does not contact the master; a real run does and explains.
    assert.equal(run.code, 0, run.out);
    const real = await on("w1", "bin/deploy-federation.sh worker 100.64.0.99 --node-id w1", 60_000);
    assert.equal(real.code, 1);
    assert.match(real.out, /cannot reach the master's API at 100\.64\.0\.99:8888/);
    assert.match(real.out, /tailscale status/);
    assert.match(real.out, /firewall/);
  });

  test("uninstall stops every service; status says so", async () => {
    for (const name of ["w1", "w2", "hy", "master"]) {
      const pidDir = join(home(name), ".config", "openclaw-federation", "run");
      const run = await on(name, "bin/deploy-federation.sh uninstall");
      assert.equal(run.code, 0, run.out);
      assert.match(run.out, /changed {2}stop openclaw-(worker|coordinator) \(supervised\)/);
      const status = await on(name, "bin/deploy-federation.sh status");
      assert.match(status.out, /nothing deployed/);
      assert.ok(!existsSync(join(pidDir, "openclaw-worker.pid")) && !existsSync(join(pidDir, "openclaw-coordinator.pid")));
    }
    assert.equal(running(gateways.hy), true, "uninstall leaves the hybrid's own gateway alone");
  });
});

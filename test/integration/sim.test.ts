import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { inheritedFlags, nodeFlagsFor } from "../../src/launch/node-flags.js";
import { runCli, spawnCli, TestFleet, waitFor, type ConfigOverrides } from "../helpers/fleet.js";

/** Lines of JSON a child prints on stdout, as they come. */
function jsonLines(child: ChildProcess): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  let buffer = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    for (const part of parts) if (part.trim()) lines.push(JSON.parse(part) as Record<string, unknown>);
  });
  return lines;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.once("exit", (code) => resolve(code));
  });
}

/** A nats-server and a coordinator for the suite (before/after hooks), and what `ocf sim` needs to reach them. */
function coordinatorForSim(coordinator: ConfigOverrides["coordinator"]): { fleet: TestFleet; cli: { env: NodeJS.ProcessEnv; config: string } } {
  const fleet = new TestFleet({ coordinator });
  const cli = { env: {} as NodeJS.ProcessEnv, config: "" };
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    cli.env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    cli.config = fleet.configFile("sim");
  });
  after(() => fleet.close());
  return { fleet, cli };
}

describe("ocf sim", () => {
  // Not auto-approving: the simulator approves its own nodes through the admin API.
  const { fleet, cli } = coordinatorForSim({ heartbeat_timeout: 10, heartbeat_check_interval: 0.5, enroll_rate_per_minute: 100_000 });

  test("--nodes: enrolled for real, answer broadcasts and exec, heartbeat, and leave the fleet on Ctrl-C", async () => {
    const child = spawnCli(["sim", "-c", cli.config, "--json", "--nodes", "60", "--prefix", "mx", "--label", "pool=sim", "--heartbeat", "1s"], cli.env);
    const lines = jsonLines(child);
    const ready = await waitFor("sim ready", () => lines.find((line) => line.ready === true), 60_000, 50);
    assert.equal(ready.nodes, 60);
    assert.equal(ready.mode, "multiplexed");
    const nodes = (await fleet.client.nodes()).filter((node) => node.id.startsWith("mx-"));
    assert.equal(nodes.length, 60);
    assert.ok(nodes.every((node) => node.status === "online" && node.labels.pool === "sim" && node.version === "sim"));
    // Every node has its own key, approved through the API (the audit trail names each approval).
    assert.equal(new Set(nodes.map((node) => node.id)).size, 60);
    const outcome = await fleet.client.broadcast("true", { pool: "sim" }, 10_000);
    assert.deepEqual([outcome.summary.total, outcome.summary.ok], [60, 60]);
    const one = await fleet.client.exec("mx-7", "true");
    assert.equal(one.status, "ok");
    assert.equal(one.exit_code, 0);
    // Still online after several heartbeat intervals past the liveness timeout would have caught a silent one.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal((await fleet.client.node("mx-59")).status, "online");
    child.kill("SIGINT");
    assert.equal(await exited(child), 0);
    const stopped = lines.find((line) => line.stopped === true);
    assert.equal(stopped?.removed, 60);
    assert.equal((await fleet.client.nodes()).filter((node) => node.id.startsWith("mx-")).length, 0);
  });

  test("--processes: full worker processes run real commands", async () => {
    const child = spawnCli(["sim", "-c", cli.config, "--json", "--processes", "2", "--prefix", "pw", "--label", "pool=proc", "--duration", "60s"], cli.env);
    const lines = jsonLines(child);
    const ready = await waitFor("workers ready", () => lines.find((line) => line.ready === true), 90_000, 100);
    assert.equal(ready.mode, "processes");
    assert.equal((ready.pids as number[]).length, 2);
    const result = await fleet.client.exec("pw-1", "echo $((6 * 7))");
    assert.equal(result.stdout, "42\n");
    const outcome = await fleet.client.broadcast("true", { pool: "proc" }, 10_000);
    assert.equal(outcome.summary.ok, 2);
    child.kill("SIGTERM");
    assert.equal(await exited(child), 0);
    for (const pid of ready.pids as number[]) assert.throws(() => process.kill(pid, 0), "worker process gone");
    assert.equal((await fleet.client.nodes()).filter((node) => node.id.startsWith("pw-")).length, 0);
  });

  test("bad input is refused with what was wrong", async () => {
    const none = await runCli(["sim", "-c", cli.config], { env: cli.env });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give exactly one of --nodes N or --processes N/);
    const zero = await runCli(["sim", "-c", cli.config, "--nodes", "0"], { env: cli.env });
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /--nodes must be a whole number from 1 to 100000 \(got "0"\)/);
    const many = await runCli(["sim", "-c", cli.config, "--processes", "500"], { env: cli.env });
    assert.equal(many.code, 2);
    assert.match(many.stderr, /--processes must be a whole number from 1 to 200/);
    const help = await runCli(["sim", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /What they share|share a few NATS connections|--connections/);
  });

  test("role flags: a small young generation per role, the parent's own flag not inherited", () => {
    assert.deepEqual(nodeFlagsFor("worker"), ["--max-semi-space-size=1", "--no-opt", "--no-maglev"]);
    assert.deepEqual(nodeFlagsFor("coordinator"), ["--max-semi-space-size=1"]);
    assert.deepEqual(inheritedFlags(["--max-semi-space-size=2", "--no-opt", "--import", "tsx", "--no-maglev"]), ["--import", "tsx"]);
  });
});

describe("ocf sim against a coordinator that limits joins", () => {
  const { fleet, cli } = coordinatorForSim({ enroll_rate_per_minute: 10, auto_approve: true });

  test("the rate limit is named with the setting to raise, and the nodes it enrolled are removed again", async () => {
    const result = await runCli(["sim", "-c", cli.config, "--nodes", "30", "--prefix", "rl"], { env: cli.env, timeoutMs: 60_000 });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /raise coordinator\.enroll_rate_per_minute/);
    assert.match(result.stderr, /removed the \d+ node\(s\) it had enrolled/);
    assert.equal((await fleet.client.nodes()).filter((node) => node.id.startsWith("rl-")).length, 0);
  });
});

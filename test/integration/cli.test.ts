import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../../src/util/net.js";
import { runCli, spawnCli, TestFleet, tempDir, waitFor } from "../helpers/fleet.js";

describe("ocf CLI against a running fleet", () => {
  const fleet = new TestFleet();
  let env: NodeJS.ProcessEnv = {};
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("home-server", { labels: { site: "home" } });
    await fleet.addApprovedWorker("macbook");
    env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
  });
  after(() => fleet.close());

  test("nodes list: a table for people, JSON for scripts", async () => {
    const table = await runCli(["nodes", "list"], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+NAME\s+STATUS/m);
    assert.match(table.stdout, /home-server\s+home-server\s+online/);
    assert.match(table.stdout, /site=home/);
    const json = await runCli(["nodes", "list", "--json"], { env });
    const nodes = JSON.parse(json.stdout) as Array<{ id: string; status: string }>;
    assert.deepEqual(nodes.map((n) => [n.id, n.status]), [["home-server", "online"], ["macbook", "online"]]);
  });

  test("exec prints output and exits with the remote exit code", async () => {
    const ok = await runCli(["exec", "home-server", "uname -s; echo err >&2"], { env });
    assert.equal(ok.code, 0);
    assert.equal(ok.stdout, "Linux\n");
    assert.equal(ok.stderr, "err\n");
    const failed = await runCli(["exec", "home-server", "exit 42"], { env });
    assert.equal(failed.code, 42);
    const json = await runCli(["--json", "exec", "macbook", "echo hi"], { env });
    assert.equal(JSON.parse(json.stdout).stdout, "hi\n");
    const timeout = await runCli(["exec", "home-server", "sleep 10", "--timeout", "300ms"], { env });
    assert.equal(timeout.code, 124);
    assert.match(timeout.stderr, /timed out/);
  });

  test("broadcast prints one block per node and fails when any node does", async () => {
    const ok = await runCli(["broadcast", "echo hello"], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /=== home-server: ok, exit 0/);
    assert.match(ok.stdout, /=== macbook: ok, exit 0/);
    assert.match(ok.stdout, /2 node\(s\): 2 ok/);
    const labelled = await runCli(["broadcast", "echo hello", "--label", "site=home", "--json"], { env });
    assert.deepEqual((JSON.parse(labelled.stdout) as { results: Array<{ node_id: string }> }).results.map((r) => r.node_id), ["home-server"]);
    const failing = await runCli(["broadcast", "test $(hostname) = nobody"], { env });
    assert.equal(failing.code, 1);
    assert.match(failing.stdout, /error, exit 1/);
  });

  test("unknown node, bad token, unreachable coordinator: one clear line, non-zero exit", async () => {
    const unknown = await runCli(["exec", "nosuch", "true"], { env });
    assert.equal(unknown.code, 5);
    assert.match(unknown.stderr, /^ocf: no node "nosuch" \(known: home-server, macbook\)\n$/);
    const badToken = await runCli(["nodes", "list"], { env: { ...env, OCF_TOKEN: "ocf_wrong" } });
    assert.equal(badToken.code, 4);
    assert.equal(badToken.stderr.trim().split("\n").length, 1);
    assert.match(badToken.stderr, /token/);
    const port = await freePort();
    const down = await runCli(["health"], { env: { OCF_URL: `http://127.0.0.1:${port}`, OCF_TOKEN: "x" } });
    assert.equal(down.code, 3);
    assert.equal(down.stderr.trim().split("\n").length, 1);
    assert.match(down.stderr, /cannot reach the coordinator/);
  });

  test("pending / approve / reject / remove through the CLI", async () => {
    await fleet.startWorker("newbie");
    const pending = await waitFor("pending", async () => {
      const r = await runCli(["nodes", "pending", "--json"], { env });
      const list = JSON.parse(r.stdout) as Array<{ node_id: string; request_id: string }>;
      return list.find((p) => p.node_id === "newbie");
    });
    const table = await runCli(["nodes", "pending"], { env });
    assert.match(table.stdout, new RegExp(`${pending.request_id}\\s+newbie`));
    const approve = await runCli(["nodes", "approve", pending.request_id], { env });
    assert.equal(approve.code, 0, approve.stderr);
    assert.match(approve.stdout, /approved newbie/);
    await waitFor("newbie online", async () => (await fleet.client.node("newbie")).status === "online");
    const remove = await runCli(["nodes", "remove", "newbie"], { env });
    assert.equal(remove.code, 0);
    const again = await runCli(["exec", "newbie", "true"], { env });
    assert.equal(again.code, 5);
    await fleet.startWorker("stranger");
    await waitFor("pending stranger", async () => (await fleet.client.pending()).some((p) => p.node_id === "stranger"));
    const reject = await runCli(["nodes", "reject", "stranger", "--reason", "unknown machine"], { env });
    assert.equal(reject.code, 0, reject.stderr);
  });

  test("tasks show and list escape a task's command and reason (stored through the real API); --json keeps them exact", async () => {
    // Both fields take any text: a command may hold ESC and CR, and the reason quotes the requirement.
    const command = "echo hi\x1b[2J\r\x1b]0;owned\x07";
    const os = "plan9\r\x1b[1A\x1b[2K";
    const submitted = await fleet.client.submitTask({ command, requires: { os } });
    const waiting = await waitFor("the task's waiting reason", async () => {
      const task = await fleet.client.task(submitted.id);
      return task.reason?.includes("plan9") ? task : undefined;
    });
    assert.ok(waiting.reason?.includes("\x1b[1A"), "the stored reason holds the escape sequence");
    try {
      const show = await runCli(["tasks", "show", submitted.id], { env });
      assert.equal(show.code, 0, show.stderr);
      assert.ok(!["\r", "\x1b", "\x07"].some((c) => show.stdout.includes(c)), JSON.stringify(show.stdout));
      assert.match(show.stdout, /^ {2}command: echo hi\\x1b\[2J\\r\\x1b\]0;owned\\x07$/m);
      assert.match(show.stdout, /\(waiting: no online node matches \(os plan9\\r\\x1b\[1A\\x1b\[2K\)/);
      const list = await runCli(["tasks", "list"], { env });
      assert.equal(list.code, 0, list.stderr);
      assert.ok(!["\r", "\x1b", "\x07"].some((c) => list.stdout.includes(c)), JSON.stringify(list.stdout));
      assert.match(list.stdout, /echo hi\\x1b\[2J/);
      const json = JSON.parse((await runCli(["--json", "tasks", "show", submitted.id], { env })).stdout) as { command: string; reason: string };
      assert.equal(json.command, command);
      assert.ok(json.reason.includes(os));
    } finally {
      await fleet.client.cancelTask(submitted.id);
    }
  });

  test("auto-approve approves pending requests (once, and with --watch)", async () => {
    await fleet.startWorker("batch-1");
    await waitFor("pending batch-1", async () => (await fleet.client.pending()).some((p) => p.node_id === "batch-1"));
    const once = await runCli(["auto-approve"], { env });
    assert.equal(once.code, 0, once.stderr);
    assert.match(once.stdout, /approved batch-1/);
    const watcher = spawnCli(["auto-approve", "--watch", "--interval", "200ms"], env);
    let out = "";
    watcher.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    try {
      await fleet.startWorker("batch-2");
      await waitFor("batch-2 approved by the watcher", async () => (await fleet.client.nodes()).some((n) => n.id === "batch-2"), 15_000);
      await waitFor("watcher printed it", () => /approved batch-2/.test(out));
    } finally {
      const exited = new Promise((r) => watcher.once("exit", r));
      watcher.kill("SIGINT");
      assert.equal(await exited, 0);
    }
  });

  test("a real worker process: SIGTERM kills its running command, reports it, and exits 0", async () => {
    const config = join(fleet.dir, "cli-worker.yaml");
    writeFileSync(config, `communication: { nats_url: "${fleet.nats.url}", coordinator_url: "${fleet.coordinator?.url}" }\nworker: { heartbeat_interval: 0.2, port: 0, state_dir: ${join(fleet.dir, "cli-worker")} }\nlog: { level: info, dir: ${join(fleet.dir, "cli-logs")} }\n`);
    const worker = spawnCli(["--config", config, "worker", "--node-id", "proc-worker"]);
    const exited = new Promise<number | null>((r) => worker.once("exit", (code) => r(code)));
    try {
      const request = await waitFor("pending", async () => (await fleet.client.pending()).find((p) => p.node_id === "proc-worker"), 20_000);
      await fleet.client.approve(request.request_id);
      await waitFor("online", async () => (await fleet.client.node("proc-worker")).status === "online", 10_000);
      const running = fleet.client.exec("proc-worker", "sleep 30");
      await waitFor("command running", async () => (await fleet.client.node("proc-worker")).load.running_tasks === 1, 10_000);
      worker.kill("SIGTERM");
      const result = await running;
      assert.equal(result.status, "error");
      assert.equal(result.error?.code, "shutting_down");
      assert.equal(await exited, 0);
      const log = readFileSync(join(fleet.dir, "cli-logs", "worker.log"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { msg: string });
      assert.ok(log.some((entry) => entry.msg === "worker stopped"), "worker.log records the clean stop");
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill("SIGKILL");
    }
  });

  test("--token warns that it shows the token in ps; --token-file reads it from a private file", async () => {
    const { OCF_TOKEN: _token, ...withoutToken } = env;
    const flag = await runCli(["--token", fleet.token, "nodes", "list", "--json"], { env: withoutToken });
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.stderr, "ocf: warning: --token shows the token to every user of this machine (ps, shell history); use OCF_TOKEN=... or --token-file FILE instead\n");
    assert.ok((JSON.parse(flag.stdout) as Array<{ id: string }>).some((node) => node.id === "home-server"), "the command still works");
    const file = join(fleet.dir, "cli.token");
    writeFileSync(file, `${fleet.token}\n`, { mode: 0o600 });
    const fromFile = await runCli(["--token-file", file, "nodes", "list"], { env: withoutToken });
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fromFile.stderr, "", "no warning");
    assert.match(fromFile.stdout, /home-server\s+home-server\s+online/);
    chmodSync(file, 0o644);
    const shared = await runCli(["--token-file", file, "nodes", "list"], { env: withoutToken });
    assert.equal(shared.code, 4);
    assert.equal(shared.stderr, `ocf: --token-file: ${file} has mode 0644; it holds a secret and must be 0600 (run: chmod 600 ${file})\n`);
    const both = await runCli(["--token", "x", "--token-file", file, "nodes", "list"], { env: withoutToken });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --token or --token-file, not both/);
    const help = await runCli(["--help"]);
    assert.match(help.stdout, /--token-file <file>/);
    assert.match(help.stdout, /prefer OCF_TOKEN or --token-file/);
  });

  test("--help works on every verb", async () => {
    for (const args of [["--help"], ["nodes", "--help"], ["exec", "--help"], ["broadcast", "--help"], ["up", "--help"], ["worker", "--help"], ["coordinator", "--help"], ["auto-approve", "--help"], ["nodes", "approve", "--help"]]) {
      const result = await runCli(args);
      assert.equal(result.code, 0, args.join(" "));
      assert.match(result.stdout, /Usage: ocf/);
    }
    const bad = await runCli(["frobnicate"]);
    assert.equal(bad.code, 2);
  });
});

describe("configuration errors", () => {
  test("an invalid config file fails at start with one message naming key, value and what is allowed", async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "config.yaml");
      writeFileSync(file, "coordinator:\n  port: eighty\n");
      const result = await runCli(["--config", file, "coordinator"]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /coordinator\.port = "eighty" is invalid: expected number/);
      writeFileSync(file, "worker:\n  heartbeat_intervall: 5\n");
      const typo = await runCli(["--config", file, "worker", "--node-id", "x"]);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /unknown key worker\.heartbeat_intervall; allowed in worker: max_concurrent_tasks, heartbeat_interval/);
      const env = await runCli(["coordinator"], { env: { OCF_COORDINATOR_PORT: "99999" } });
      assert.equal(env.code, 2);
      assert.match(env.stderr, /OCF_COORDINATOR_PORT: coordinator\.port = 99999 is invalid/);
      const badId = await runCli(["worker", "--node-id", "Bad_ID"]);
      assert.equal(badId.code, 2);
      assert.match(badId.stderr, /--node-id "Bad_ID" is invalid/);
    } finally {
      dir.cleanup();
    }
  });
});

describe("ocf up (the quick start's foreground fleet)", () => {
  test("starts nats-server, coordinator and a local worker, prints health and nodes, stops cleanly on Ctrl-C", async () => {
    const dir = tempDir();
    try {
      const natsPort = await freePort();
      const httpPort = await freePort();
      const file = join(dir.path, "config", "config.yaml");
      const { mkdirSync } = await import("node:fs");
      mkdirSync(join(dir.path, "config"));
      writeFileSync(
        file,
        [
          "storage: { type: sqlite, path: ./data/cluster.db }",
          `coordinator: { host: 127.0.0.1, port: ${httpPort}, heartbeat_timeout: 90, heartbeat_check_interval: 30, state_dir: ./state/coordinator }`,
          "worker: { max_concurrent_tasks: 5, heartbeat_interval: 5, skills_dir: ./skills, port: 0, state_dir: ./state/worker }",
          `communication: { nats_url: "nats://127.0.0.1:${natsPort}" }`,
          "log: { level: INFO, format: json }",
        ].join("\n"),
      );
      const child = spawnCli(["--config", file, "up", "--node-id", "local-one"], { HOME: dir.path, OCF_LOG_CONSOLE: "none" });
      let out = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      await waitFor("fleet up", () => out.includes("Try, in another terminal"), 60_000, 100);
      assert.match(out, new RegExp(`started nats-server on nats://127.0.0.1:${natsPort}`));
      assert.match(out, /Admin token \(printed once/);
      assert.match(out, /health: ok \(nats connected, secure, db ok, 1\/1 nodes online\)/);
      assert.match(out, /local-one\s+local-one\s+online/);
      const token = readFileSync(join(dir.path, "state", "coordinator", "admin.token"), "utf8").trim();
      const env = { OCF_URL: `http://127.0.0.1:${httpPort}`, OCF_TOKEN: token };
      const exec = await runCli(["exec", "local-one", "uname -a"], { env });
      assert.equal(exec.code, 0, exec.stderr);
      assert.match(exec.stdout, /^Linux /);
      const bcast = await runCli(["broadcast", "uptime"], { env });
      assert.equal(bcast.code, 0);
      assert.match(bcast.stdout, /=== local-one: ok/);
      child.kill("SIGINT");
      assert.equal(await exited, 0);
      assert.match(out, /stopped/);
      const after = await runCli(["health"], { env });
      assert.equal(after.code, 3, "coordinator is gone after Ctrl-C");
      const { tcpReachable } = await import("../../src/util/net.js");
      assert.equal(await tcpReachable("127.0.0.1", natsPort, 500), false, "nats-server is gone after Ctrl-C");
    } finally {
      dir.cleanup();
    }
  });
});

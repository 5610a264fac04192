/**
 * `ocf nats-config` writes a config that a real nats-server accepts and that trusts exactly this
 * coordinator: the coordinator connects in operator mode, a stranger cannot connect at all.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { findNatsServer } from "../../src/transport/nats-server.js";
import { silentLogger } from "../../src/util/logger.js";
import { freePort, tcpReachable } from "../../src/util/net.js";
import { runCli, tempDir, testConfig, waitFor } from "../helpers/fleet.js";

describe("ocf nats-config", () => {
  const dir = tempDir();
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    dir.cleanup();
  });

  test("writes a 0600 operator-mode config that nats-server runs and the coordinator connects to securely", async () => {
    const port = await freePort();
    const stateDir = join(dir.path, "coordinator");
    const configFile = join(dir.path, "ocf.yaml");
    writeFileSync(configFile, `coordinator: { state_dir: ${stateDir} }\ncommunication: { nats_url: "nats://127.0.0.1:${port}" }\n`);
    const out = join(dir.path, "nats.conf");
    const result = await runCli(["--config", configFile, "nats-config", "-o", out, "--dir", join(dir.path, "nats")]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /wrote .*nats\.conf; start the server with: nats-server -c /);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const text = readFileSync(out, "utf8");
    assert.match(text, new RegExp(`^port: ${port}$`, "m"));
    assert.match(text, /^operator: ey/m);
    assert.match(text, /resolver: \{ type: full/);

    const server = spawn(findNatsServer() as string, ["-c", out], { stdio: "ignore" });
    cleanups.push(async () => {
      server.kill("SIGTERM");
      await new Promise((r) => server.once("exit", r));
    });
    await waitFor("nats-server listening", () => tcpReachable("127.0.0.1", port, 200), 10_000);
    await assert.rejects(connect({ servers: `nats://127.0.0.1:${port}`, maxReconnectAttempts: 0, timeout: 2000 }), /Authorization Violation/);

    const config = testConfig(`nats://127.0.0.1:${port}`, dir.path, { coordinator: { state_dir: stateDir } });
    const coordinator = new Coordinator({ config, dbPath: config.storage.path, stateDir, logger: silentLogger() });
    await coordinator.start();
    cleanups.push(() => coordinator.stop());
    await coordinator.ready();
    const health = coordinator.health();
    assert.equal(health.nats.connected, true);
    assert.equal(health.nats.secure, true);
  });

  test("--json prints the config with the operator and account keys; a bad --port is a usage error", async () => {
    const configFile = join(dir.path, "ocf.yaml");
    const json = await runCli(["--config", configFile, "--json", "nats-config"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { config: string; operator: string; account: string };
    assert.match(parsed.operator, /^O[A-Z2-7]{55}$/);
    assert.match(parsed.account, /^A[A-Z2-7]{55}$/);
    assert.ok(parsed.config.includes(parsed.account), "the fleet account is preloaded");
    const bad = await runCli(["--config", configFile, "nats-config", "--port", "eighty"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port must be a port number/);
  });
});

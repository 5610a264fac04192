import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { silentLogger } from "../../src/util/logger.js";
import { runCli, TestFleet } from "../helpers/fleet.js";

describe("HTTPS for the HTTP API", () => {
  const fleet = new TestFleet();
  let cert = "";
  let key = "";
  let coordinator: Coordinator | undefined;
  before(async () => {
    await fleet.startNats();
    cert = join(fleet.dir, "cert.pem");
    key = join(fleet.dir, "key.pem");
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    chmodSync(key, 0o600);
  });
  after(async () => {
    await coordinator?.stop();
    await fleet.close();
  });

  const start = (keyPath: string): Coordinator => {
    const config = fleet.config();
    return new Coordinator({ config, dbPath: config.storage.path, stateDir: config.coordinator.state_dir, logger: silentLogger(), tls: { certPath: cert, keyPath } });
  };

  test("serves HTTPS; the CLI trusts the certificate through OCF_CA_CERT / NODE_EXTRA_CA_CERTS", async () => {
    coordinator = start(key);
    await coordinator.start();
    assert.match(coordinator.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const token = (await import("node:fs")).readFileSync(join(fleet.dir, "coordinator", "admin.token"), "utf8").trim();
    const trusted = await runCli(["health", "--json"], { env: { OCF_URL: coordinator.url, OCF_TOKEN: token, NODE_EXTRA_CA_CERTS: cert } });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(JSON.parse(trusted.stdout).status, "ok");
    const untrusted = await runCli(["health"], { env: { OCF_URL: coordinator.url, OCF_TOKEN: token } });
    assert.equal(untrusted.code, 3);
    assert.match(untrusted.stderr, /cannot reach the coordinator/);
    const plain = await runCli(["health"], { env: { OCF_URL: coordinator.url.replace("https:", "http:"), OCF_TOKEN: token } });
    assert.notEqual(plain.code, 0, "plain HTTP to the HTTPS port does not work");
  });

  test("a private key readable by others, or a missing file, stops the start with a clear message", async () => {
    const loose = join(fleet.dir, "loose-key.pem");
    writeFileSync(loose, "not used", { mode: 0o644 });
    chmodSync(loose, 0o644);
    await assert.rejects(start(loose).start(), /TLS for the HTTP API: .*loose-key\.pem has mode 0644.*chmod 600/);
    await assert.rejects(start(join(fleet.dir, "absent.pem")).start(), /TLS for the HTTP API: .*absent\.pem does not exist/);
  });

  test("tls_cert without tls_key is a configuration error (exit 2)", async () => {
    const file = join(fleet.dir, "half.yaml");
    writeFileSync(file, `coordinator: { port: 0, tls_cert: ${cert}, state_dir: ${join(fleet.dir, "half")} }\nstorage: { path: ${join(fleet.dir, "half.db")} }\n`);
    const result = await runCli(["--config", file, "coordinator"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /tls_cert and coordinator\.tls_key go together/);
  });
});

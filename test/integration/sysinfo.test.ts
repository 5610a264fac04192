/** sys.info: how a machine is doing, through the API, `ocf info` and the agent's fleet_info. */
import assert from "node:assert/strict";
import { cpus, hostname, totalmem } from "node:os";
import { after, before, describe, test } from "node:test";
import { runTool } from "../../src/bridge/tools.js";
import { parseDf } from "../../src/worker/sysinfo.js";
import { runCli, TestFleet } from "../helpers/fleet.js";

describe("sys.info", () => {
  const fleet = new TestFleet();
  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("home-server");
    await fleet.addApprovedWorker("locked", { worker: { exec_policy: "deny" } });
  });
  after(() => fleet.close());

  test("the API returns this machine's real figures", async () => {
    const result = await fleet.client.info("Home Server");
    assert.equal(result.node_id, "home-server");
    const info = result.info;
    assert.equal(info.hostname, hostname());
    assert.equal(info.cpu?.cores, cpus().length);
    assert.equal(info.cpu?.load.length, 3);
    assert.equal(info.memory?.total_bytes, totalmem());
    assert.ok((info.memory?.available_bytes ?? 0) > 0 && (info.memory?.available_bytes ?? 0) <= totalmem());
    const root = info.disks?.find((disk) => disk.mount === "/");
    assert.ok(root, "the root filesystem is listed");
    assert.ok(root.size_bytes > 0 && root.used_percent >= 0 && root.used_percent <= 100);
    assert.ok((info.uptime_s ?? 0) > 0);
    assert.equal(info.node_version, process.versions.node);
    assert.match(info.agent_version ?? "", /^\d+\.\d+\.\d+/);
  });

  test("reading is allowed under exec_policy deny (it runs nothing)", async () => {
    const result = await fleet.client.info("locked");
    assert.equal(result.info.hostname, hostname());
  });

  test("ocf info prints a summary; --json the whole record; an unknown node exits 5", async () => {
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const text = await runCli(["info", "home-server"], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^home-server \(/);
    assert.match(text.stdout, /^cpu: +\d+ × .*; load [\d.]+ \/ [\d.]+ \/ [\d.]+ \(1\/5\/15 min\)$/m);
    assert.match(text.stdout, /^disk: +\/ [\d.]+% used — /m);
    const json = await runCli(["--json", "info", "home-server"], { env });
    assert.equal((JSON.parse(json.stdout) as { info: { hostname: string } }).info.hostname, hostname());
    const missing = await runCli(["info", "nope"], { env });
    assert.equal(missing.code, 5);
  });

  test("the agent's fleet_info answers \"how is home-server doing\" with the same figures", async () => {
    const outcome = await runTool(fleet.client, "fleet_info", { node: "home-server" });
    assert.equal(outcome.isError, false, outcome.text);
    assert.match(outcome.text, /^memory: +[\d.]+% used — .* available of /m);
    assert.equal((outcome.details.info as { hostname: string }).hostname, hostname());
  });
});

describe("parseDf", () => {
  test("keeps device-backed filesystems and /, largest first; handles spaces in mount points", () => {
    const gnu = [
      "Filesystem     1024-blocks      Used Available Capacity Mounted on",
      "udev              12000000         0  12000000       0% /dev",
      "/dev/vda         264212084  25874172  80517712      25% /",
      "tmpfs             24000000         0  24000000       0% /dev/shm",
      "/dev/sdb1        976762584 500000000 476762584      52% /mnt/My Disk",
    ].join("\n");
    const disks = parseDf(gnu);
    assert.deepEqual(disks.map((disk) => disk.mount), ["/mnt/My Disk", "/"]);
    assert.equal(disks[1]?.size_bytes, 264212084 * 1024);
    assert.equal(disks[1]?.used_percent, 24.3);
    const overlayRoot = "Filesystem 1024-blocks Used Available Capacity Mounted on\noverlay 1000 250 750 25% /\n";
    assert.deepEqual(parseDf(overlayRoot).map((disk) => disk.mount), ["/"], "a container's overlay root still counts");
    assert.deepEqual(parseDf("garbage"), []);
  });
});

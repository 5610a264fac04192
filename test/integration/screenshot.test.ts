/**
 * screen.capture under a real X server (Xvfb with a white root window): capability discovery, the
 * API (file stored by the coordinator, served by id), `ocf screenshot`, and the agent tool's image.
 * A worker without a display reports no screen.capture and is refused with a clear error.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FleetClient } from "../../src/client/client.js";
import { runTool } from "../../src/bridge/tools.js";
import { which } from "../../src/worker/capabilities.js";
import { decodePng } from "../helpers/png.js";
import { runCli, TestFleet, waitFor } from "../helpers/fleet.js";

const missing = ["Xvfb", "import"].filter((tool) => !which(tool));
const SKIP = missing.length ? `${missing.join(" and ")} not installed (apt-get install -y xvfb imagemagick; .ci/run does it)` : undefined;
if (SKIP) console.log(`\n[screenshot] SKIPPED — ${SKIP}\n`);

describe("screenshots under Xvfb", { skip: SKIP }, () => {
  const fleet = new TestFleet();
  const display = `:${100 + Math.floor(Math.random() * 800)}`;
  let xvfb: ChildProcess | undefined;

  before(async () => {
    xvfb = spawn("Xvfb", [display, "-screen", "0", "320x240x24", "-wr", "-nolisten", "tcp"], { stdio: "ignore" });
    // Xvfb is ready once its socket exists.
    const socket = `/tmp/.X11-unix/X${display.slice(1)}`;
    await waitFor("Xvfb socket", () => existsSync(socket) || (xvfb?.exitCode !== null ? Promise.reject(new Error(`Xvfb exited with ${xvfb?.exitCode}`)) : false), 15_000);
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("desk", { env: { ...process.env, DISPLAY: display } });
    await fleet.addApprovedWorker("headless", { env: { ...process.env, DISPLAY: "", WAYLAND_DISPLAY: "" } });
    await fleet.addApprovedWorker("locked", { env: { ...process.env, DISPLAY: display }, worker: { exec_policy: "deny" } });
  });
  after(async () => {
    await fleet.close();
    xvfb?.kill("SIGTERM");
  });

  test("a worker with a display and a capture tool reports screen.capture; one without does not", async () => {
    assert.deepEqual((await fleet.client.node("desk")).capabilities, ["shell.exec", "screen.capture"]);
    assert.deepEqual((await fleet.client.node("headless")).capabilities, ["shell.exec"]);
    assert.deepEqual((await fleet.client.node("locked")).capabilities, ["shell.exec", "screen.capture"]);
  });

  test("the API stores the PNG and serves it by id: the white 320x240 screen", async () => {
    const shot = await fleet.client.screenshot("desk");
    assert.equal(shot.node_id, "desk");
    assert.equal(shot.width, 320);
    assert.equal(shot.height, 240);
    assert.match(shot.file.url, /^\/api\/v1\/files\/[0-9a-f]{24}$/);
    const file = await fleet.client.download(shot.file.url);
    assert.equal(file.mime, "image/png");
    assert.equal(file.data.length, shot.file.bytes);
    const png = decodePng(file.data);
    assert.equal(png.width, 320);
    assert.equal(png.height, 240);
    for (const [x, y] of [[0, 0], [160, 120], [319, 239]] as const) assert.deepEqual(png.pixel(x, y), [255, 255, 255], `pixel ${x},${y}`);
    // Stored 0600 by the coordinator, and the file id is the only way in.
    const stored = join(fleet.dir, "coordinator", "files", `${shot.file.id}.png`);
    assert.equal(statSync(stored).mode & 0o777, 0o600);
    await assert.rejects(fleet.client.download("/api/v1/files/..%2F..%2Fadmin.token"), /no file/);
    const audit = await fleet.client.audit({ action: "screenshot", limit: 1 });
    assert.equal(audit[0]?.status, "ok");
  });

  test("max_width scales the picture down, keeping the aspect ratio", async () => {
    const shot = await fleet.client.screenshot("desk", { maxWidth: 160 });
    assert.equal(shot.width, 160);
    assert.equal(shot.height, 120);
    const png = decodePng((await fleet.client.download(shot.file.url)).data);
    assert.deepEqual(png.pixel(80, 60), [255, 255, 255]);
    // Never scaled up.
    assert.equal((await fleet.client.screenshot("desk", { maxWidth: 1000 })).width, 320);
  });

  test("no display → 409 capability_unavailable naming what is missing", async () => {
    await assert.rejects(fleet.client.screenshot("headless"), (error: Error & { code?: string; status?: number }) => {
      assert.equal(error.code, "capability_unavailable");
      assert.equal(error.status, 409);
      // The node itself says what is missing there.
      assert.match(error.message, /headless cannot capture its screen: no display: DISPLAY unset and no Wayland session/);
      return true;
    });
  });

  test("a worker whose exec policy is deny refuses screenshots too", async () => {
    await assert.rejects(fleet.client.screenshot("locked"), (error: Error & { code?: string }) => {
      assert.equal(error.code, "policy_denied");
      assert.match(error.message, /exec_policy: deny, which refuses every remote action, screen\.capture included/);
      return true;
    });
  });

  test("ocf screenshot saves the PNG; a read-only token may not take one", async () => {
    const out = join(fleet.dir, "shot.png");
    const result = await runCli(["screenshot", "desk", "-o", out], { env: { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /saved .*shot\.png \(320x240, \d+ bytes/);
    assert.equal(decodePng(readFileSync(out)).width, 320);
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: (await fleet.client.createToken("shot-reader", "read")).token });
    await assert.rejects(reader.screenshot("desk"), /needs "exec"/);
  });

  test("the agent's fleet_screenshot returns the image itself", async () => {
    const outcome = await runTool(fleet.client, "fleet_screenshot", { node: "Desk" });
    assert.equal(outcome.isError, false, outcome.text);
    assert.match(outcome.text, /^Screenshot of desk \(320x240, \d+ bytes PNG\)/);
    assert.equal(outcome.image?.mimeType, "image/png");
    assert.equal(decodePng(Buffer.from(outcome.image?.data ?? "", "base64")).pixel(5, 5).join(","), "255,255,255");
    const refused = await runTool(fleet.client, "fleet_screenshot", { node: "headless" });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /cannot do that: headless cannot capture its screen: no display/);
  });
});

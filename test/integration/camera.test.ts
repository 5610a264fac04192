/**
 * camera.snap through the real ffmpeg, with a synthetic video source configured as the camera
 * (lavfi `color`, a known colour, so the picture can be checked pixel by pixel): capability
 * discovery, JPEG and PNG, resolution, `ocf camera`, the agent's fleet_camera, and the refusals
 * (no camera device, a device the input does not allow, exec_policy deny, bad input).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FleetClient } from "../../src/client/client.js";
import { runTool } from "../../src/bridge/tools.js";
import { jpegSize } from "../../src/util/jpeg.js";
import { which } from "../../src/worker/capabilities.js";
import { decodePng } from "../helpers/png.js";
import { runCli, TestFleet } from "../helpers/fleet.js";

const SKIP = which("ffmpeg") ? undefined : "ffmpeg not installed (apt-get install -y ffmpeg; .ci/run does it)";
if (SKIP) console.log(`\n[camera] SKIPPED — ${SKIP}\n`);

/** The camera shows this colour (R, G, B). */
const COLOUR = [32, 96, 192] as const;
const SOURCE = "color=c=0x2060c0:size=320x240:rate=5";

/** Decode any image ffmpeg reads into RGB pixels: proves the file is a real, decodable picture. */
function decodeWithFfmpeg(data: Buffer, width: number, height: number): Buffer {
  const result = spawnSync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], { input: data, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.status, 0, result.stderr.toString());
  assert.equal(result.stdout.length, width * height * 3, "decoded size matches width x height");
  return result.stdout;
}

function near(actual: readonly number[], expected: readonly number[], tolerance: number, what: string): void {
  actual.forEach((value, i) => assert.ok(Math.abs(value - (expected[i] as number)) <= tolerance, `${what}: ${actual.join(",")} is not within ${tolerance} of ${expected.join(",")}`));
}

describe("camera photos through ffmpeg", { skip: SKIP }, () => {
  const fleet = new TestFleet();

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    await fleet.addApprovedWorker("garage", { worker: { camera_input: "lavfi", camera_device: SOURCE } });
    await fleet.addApprovedWorker("nocam", { worker: { camera_input: "v4l2", camera_device: "/dev/video-none" } });
    await fleet.addApprovedWorker("locked", { worker: { camera_input: "lavfi", camera_device: SOURCE, exec_policy: "deny" } });
  });
  after(() => fleet.close());

  test("a node with a camera and ffmpeg reports camera.snap; one without a device does not", async () => {
    assert.ok((await fleet.client.node("garage")).capabilities.includes("camera.snap"));
    assert.ok(!(await fleet.client.node("nocam")).capabilities.includes("camera.snap"));
  });

  test("a JPEG of the camera's size, decodable, showing the camera's colour; stored and audited", async () => {
    const shot = await fleet.client.camera("garage");
    assert.equal(shot.node_id, "garage");
    assert.equal(shot.file.mime, "image/jpeg");
    assert.equal(shot.width, 320);
    assert.equal(shot.height, 240);
    const file = await fleet.client.download(shot.file.url);
    assert.equal(file.mime, "image/jpeg");
    assert.deepEqual(jpegSize(file.data), { width: 320, height: 240 });
    const rgb = decodeWithFfmpeg(file.data, 320, 240);
    for (const at of [0, 160 * 3 + 120 * 320 * 3, rgb.length - 3]) near([...rgb.subarray(at, at + 3)], COLOUR, 8, `pixel at byte ${at}`);
    const audit = await fleet.client.audit({ action: "camera", limit: 1 });
    assert.equal(audit[0]?.status, "ok");
    assert.equal(audit[0]?.node_id, "garage");
  });

  test("PNG at a requested resolution", async () => {
    const shot = await fleet.client.camera("garage", { resolution: "160x120", format: "png" });
    assert.equal(shot.file.mime, "image/png");
    assert.equal(shot.width, 160);
    assert.equal(shot.height, 120);
    const png = decodePng((await fleet.client.download(shot.file.url)).data);
    assert.equal(png.width, 160);
    assert.equal(png.height, 120);
    near(png.pixel(80, 60), COLOUR, 3, "centre pixel");
  });

  test("ocf camera saves the picture (format from the file name); a read-only token may not take one", async () => {
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const jpg = join(fleet.dir, "door.jpg");
    const result = await runCli(["camera", "garage", "-o", jpg], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /saved .*door\.jpg \(320x240, \d+ bytes/);
    assert.deepEqual(jpegSize(readFileSync(jpg)), { width: 320, height: 240 });
    const png = join(fleet.dir, "door.png");
    const second = await runCli(["camera", "garage", "-o", png, "--resolution", "64x48", "--json"], { env });
    assert.equal(second.code, 0, second.stderr);
    assert.equal((JSON.parse(second.stdout) as { width: number }).width, 64);
    assert.equal(decodePng(readFileSync(png)).height, 48);
    rmSync(png);
    const bad = await runCli(["camera", "garage", "--resolution", "big"], { env });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--resolution must be WIDTHxHEIGHT/);
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: (await fleet.client.createToken("camera-reader", "read")).token });
    await assert.rejects(reader.camera("garage"), /needs "exec"/);
  });

  test("no camera device → 409 capability_unavailable naming the device", async () => {
    await assert.rejects(fleet.client.camera("nocam"), (error: Error & { code?: string; status?: number }) => {
      assert.equal(error.code, "capability_unavailable");
      assert.equal(error.status, 409);
      assert.match(error.message, /nocam cannot take a camera photo: no camera: \/dev\/video-none does not exist/);
      return true;
    });
  });

  test("a caller cannot swap the configured test source for another (lavfi graphs can read files); bad input is a 400", async () => {
    await assert.rejects(fleet.client.camera("garage", { device: "movie=/etc/passwd" }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "bad_request");
      assert.match(error.message, /takes its device from worker\.camera_device only/);
      return true;
    });
    await assert.rejects(fleet.client.camera("garage", { resolution: "0x0" }), (error: Error & { code?: string }) => {
      assert.equal(error.code, "bad_request");
      assert.match(error.message, /resolution/);
      return true;
    });
  });

  test("exec_policy deny refuses camera photos", async () => {
    await assert.rejects(fleet.client.camera("locked"), (error: Error & { code?: string }) => {
      assert.equal(error.code, "policy_denied");
      assert.match(error.message, /camera\.snap included/);
      return true;
    });
  });

  test("the agent's fleet_camera returns the photo itself, and a clear sentence where there is no camera", async () => {
    const outcome = await runTool(fleet.client, "fleet_camera", { node: "Garage" });
    assert.equal(outcome.isError, false, outcome.text);
    assert.match(outcome.text, /^Camera photo of garage \(320x240, \d+ bytes JPEG\)/);
    assert.equal(outcome.image?.mimeType, "image/jpeg");
    assert.deepEqual(jpegSize(Buffer.from(outcome.image?.data ?? "", "base64")), { width: 320, height: 240 });
    const refused = await runTool(fleet.client, "fleet_camera", { node: "nocam" });
    assert.equal(refused.isError, true);
    assert.match(refused.text, /\/dev\/video-none does not exist/);
  });
});

/** Skills from a folder: manifests, parameter validation, broken folders, requirements, rescans. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { SkillCatalog, SkillError, skillEnv } from "../../src/worker/skills.js";
import { checkDevice, ffmpegArgs, probeCamera, type CameraSetup } from "../../src/worker/camera.js";
import { isJpeg, jpegSize } from "../../src/util/jpeg.js";

const dir = mkdtempSync(join(tmpdir(), "ocf-skills-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function skill(name: string, manifest: string, script: string | undefined = "#!/bin/sh\necho hi\n", file = "skill.yaml"): void {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, file), manifest);
  if (script !== undefined) {
    writeFileSync(join(dir, name, "run.sh"), script);
    chmodSync(join(dir, name, "run.sh"), 0o755);
  }
}

const caps = { list: ["shell.exec"], missing: { "screen.capture": "no display: DISPLAY unset and no Wayland session" } as Record<string, string> };

skill(
  "greet",
  `description: Say hello
run: ./run.sh
timeout: 5
parameters:
  type: object
  additionalProperties: false
  required: [who]
  properties:
    who: { type: string, minLength: 1 }
    times: { type: integer, minimum: 1, maximum: 3, default: 1 }
    loud: { type: boolean, default: false }
    tone: { enum: [warm, dry] }
`,
);
skill("json-one", JSON.stringify({ description: "From JSON", run: ["sh", "-c", "echo json"] }), undefined, "skill.json");
skill("no-desc", "run: ./run.sh\n");
skill("bad-yaml", "description: [unclosed\n");
skill("missing-exe", "description: Lost\nrun: ./nowhere.sh\n", undefined);
skill("not-exec", "description: Not executable\nrun: ./run.sh\n");
chmodSync(join(dir, "not-exec", "run.sh"), 0o644);
skill("Bad Name", "description: Spaces in the folder\nrun: ./run.sh\n");
skill("array-params", "description: Wrong schema\nrun: ./run.sh\nparameters: { type: array }\n");
skill("needs-screen", "description: Screenshot and annotate\nrun: ./run.sh\nrequires: [screen.capture]\n");
skill("twin-a", "name: twin\ndescription: First\nrun: ./run.sh\n");
skill("twin-b", "name: twin\ndescription: Second\nrun: ./run.sh\n");
mkdirSync(join(dir, "not-a-skill"));

const catalog = new SkillCatalog(dir, () => caps);
catalog.scan();

describe("skill catalog", () => {
  test("valid skills load (YAML and JSON manifests; a program on PATH); the folder name is the default name", () => {
    const names = catalog.list().map((s) => s.name);
    assert.deepEqual(names, ["greet", "json-one", "needs-screen", "twin"]);
    const greet = catalog.list().find((s) => s.name === "greet");
    assert.equal(greet?.timeout_s, 5);
    assert.equal(greet?.description, "Say hello");
    assert.equal(catalog.list().find((s) => s.name === "json-one")?.timeout_s, 60);
  });

  test("every broken folder is reported with the reason, and not loaded", () => {
    const problems = Object.fromEntries(catalog.problems().map((p) => [p.folder, p.error]));
    assert.match(problems["no-desc"] ?? "", /skill\.yaml: description: /);
    assert.match(problems["bad-yaml"] ?? "", /skill\.yaml is not valid YAML/);
    assert.match(problems["missing-exe"] ?? "", /run: \.\/nowhere\.sh does not exist/);
    assert.match(problems["not-exec"] ?? "", /run: \.\/run\.sh is not executable \(chmod \+x /);
    assert.match(problems["Bad Name"] ?? "", /not a valid skill name/);
    assert.match(problems["array-params"] ?? "", /must describe an object/);
    assert.match(problems["twin-b"] ?? "", /another folder already defines the skill "twin"/);
    assert.equal(problems["not-a-skill"], undefined, "a folder without a manifest is simply not a skill");
  });

  test("parameters: defaults filled in, strings converted to the schema's types, errors name the parameter", () => {
    const { params } = catalog.prepare("greet", { who: "ops", times: "2" });
    assert.deepEqual(params, { who: "ops", times: 2, loud: false });
    const refused = (args: Record<string, unknown>, pattern: RegExp): void => {
      assert.throws(
        () => catalog.prepare("greet", args),
        (error: unknown) => error instanceof SkillError && error.code === "bad_request" && pattern.test(error.message),
      );
    };
    refused({}, /missing parameter who/);
    refused({ who: "ops", times: "many" }, /parameter times: must be integer/);
    refused({ who: "ops", times: 9 }, /parameter times: must be <= 3/);
    refused({ who: "ops", colour: "red" }, /unknown parameter colour/);
    refused({ who: "ops", tone: "sharp" }, /parameter tone: must be one of "warm", "dry"/);
  });

  test("unknown, broken and unrunnable skills are refused with the reason", () => {
    assert.throws(() => catalog.prepare("nope", {}), /no skill "nope" on this node \(it has: greet, json-one, needs-screen, twin/);
    assert.throws(() => catalog.prepare("missing-exe", {}), /skill "missing-exe" is broken on this node: .*nowhere\.sh does not exist/);
    assert.throws(
      () => catalog.prepare("needs-screen", {}),
      (error: unknown) => error instanceof SkillError && error.code === "capability_unavailable" && /needs screen\.capture \(no display: DISPLAY unset/.test(error.message),
    );
    assert.equal(catalog.list().find((s) => s.name === "needs-screen")?.available, false);
    assert.deepEqual(catalog.capabilityNames(), ["skill:greet", "skill:json-one", "skill:twin"]);
  });

  test("a rescan notices a new skill and a fixed one; an unchanged folder is not read again", () => {
    assert.equal(catalog.scan(), false);
    skill("later", "description: Added while running\nrun: ./run.sh\n");
    chmodSync(join(dir, "not-exec", "run.sh"), 0o755);
    assert.equal(catalog.scan(), true);
    assert.ok(catalog.list().some((s) => s.name === "later"));
    assert.ok(catalog.list().some((s) => s.name === "not-exec"));
  });

  test("a skill gets its parameters as OCF_PARAMS and OCF_PARAM_<NAME>", () => {
    const { skill: greet, params } = catalog.prepare("greet", { who: "ops" });
    const env = skillEnv({ PATH: "/bin" }, greet, params);
    assert.equal(env.OCF_SKILL, "greet");
    assert.equal(env.OCF_PARAM_WHO, "ops");
    assert.equal(env.OCF_PARAM_TIMES, "1");
    assert.deepEqual(JSON.parse(env.OCF_PARAMS ?? "{}"), { who: "ops", times: 1, loud: false });
  });

  test("a missing skills_dir is an empty catalog, not an error", () => {
    const empty = new SkillCatalog(join(dir, "does-not-exist"), () => caps);
    empty.scan();
    assert.deepEqual(empty.list(), []);
    assert.deepEqual(empty.problems(), []);
  });
});

describe("camera setup", () => {
  test("probe: a missing V4L2 device or ffmpeg is named; lavfi needs a source", () => {
    assert.match(String(probeCamera({ input: "v4l2", device: "/dev/video-none", format: "jpeg" }, "/usr/bin/ffmpeg", "linux")), /no camera: \/dev\/video-none does not exist/);
    assert.match(String(probeCamera({ input: "lavfi", device: "testsrc", format: "jpeg" }, undefined, "linux")), /ffmpeg is not installed/);
    assert.match(String(probeCamera({ input: "lavfi", format: "jpeg" }, "/usr/bin/ffmpeg", "linux")), /worker\.camera_device .* is unset/);
    assert.match(String(probeCamera({ input: "auto", format: "jpeg" }, "/usr/bin/ffmpeg", "win32")), /not supported on win32/);
    const mac = probeCamera({ input: "auto", format: "png" }, "/usr/bin/ffmpeg", "darwin") as CameraSetup;
    assert.equal(mac.input, "avfoundation");
    assert.equal(mac.device, "0");
  });

  test("ffmpeg arguments: warm-up frames and scaling for a real camera; a caller's device must look like one", () => {
    const v4l2: CameraSetup = { ffmpeg: "ffmpeg", input: "v4l2", device: "/dev/null", format: "jpeg" };
    const args = ffmpegArgs(v4l2, { resolution: "640x480" });
    assert.deepEqual(args.slice(args.indexOf("-f"), args.indexOf("-i") + 2), ["-f", "v4l2", "-video_size", "640x480", "-i", "/dev/null"]);
    assert.equal(args[args.indexOf("-vf") + 1], "select=gte(n\\,5),scale=640:480");
    assert.ok(args.includes("mjpeg"));
    assert.throws(() => checkDevice(v4l2, "/etc/passwd"), /is not a v4l2 camera device/);
    assert.throws(() => checkDevice(v4l2, "/dev/video99"), /no camera at \/dev\/video99/);
    const mac: CameraSetup = { ffmpeg: "ffmpeg", input: "avfoundation", device: "0", format: "png" };
    assert.equal(checkDevice(mac, "1"), "1");
    assert.throws(() => checkDevice(mac, "FaceTime HD; rm"), /not a avfoundation camera device/);
  });

  test("JPEG size from the start-of-frame marker", () => {
    // SOI, APP0 (length 16), SOF0 (length 17: precision 8, height 0x00F0, width 0x0140).
    const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, ...Buffer.from("JFIF\0"), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 8, 0x00, 0xf0, 0x01, 0x40, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8]), app0, sof, Buffer.from([0xff, 0xd9])]);
    assert.equal(isJpeg(jpeg), true);
    assert.deepEqual(jpegSize(jpeg), { width: 320, height: 240 });
    assert.equal(jpegSize(Buffer.from([0xff, 0xd8, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0])), undefined);
  });
});

describe("the shipped service-status skill under systemd", () => {
  // This machine may have no systemd: the script runs with its systemd check pointed at a folder
  // that exists and fake systemctl / journalctl first on PATH. The fakes answer `show` with the
  // properties asked for (including ExecStart and Environment if asked) and `status` with the
  // CGroup tree as systemd prints it, each holding a secret: none of it may reach the output.
  const REPO_SKILL = join(import.meta.dirname, "..", "..", "skills", "service-status", "run.sh");
  const SECRET = "ocft_systemdsecret0123456789";
  const root = mkdtempSync(join(tmpdir(), "ocf-svc-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const bin = join(root, "bin");
  const runtime = join(root, "run-systemd-system");
  mkdirSync(bin);
  mkdirSync(runtime);
  const script = join(root, "run.sh");
  writeFileSync(script, readFileSync(REPO_SKILL, "utf8").replaceAll("/run/systemd/system", runtime));
  chmodSync(script, 0o755);
  const fake = (name: string, body: string): void => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}`);
    chmodSync(join(bin, name), 0o755);
  };
  fake(
    "systemctl",
    `echo "$*" >> "${root}/calls"
case "$1" in
  status) echo "CGroup: /system.slice/web.service"; echo "  1234 /usr/bin/web --token ${SECRET}"; exit 0 ;;
  show) ;;
  *) exit 1 ;;
esac
state=\${FAKE_STATE:-active}
for arg in "$@"; do
  case "$arg" in
    --property=*) props="\${arg#--property=}" ;;
  esac
done
[ -n "\${props:-}" ] || props="Id,ExecStart,Environment,ActiveState"
IFS=,
for p in $props; do
  case "$p" in
    Id) echo "Id=web.service" ;;
    LoadState) echo "LoadState=\${FAKE_LOAD:-loaded}" ;;
    ActiveState) echo "ActiveState=$state" ;;
    SubState) echo "SubState=running" ;;
    MainPID) echo "MainPID=\${FAKE_PID:-0}" ;;
    ExecStart) echo "ExecStart={ path=/usr/bin/web ; argv[]=/usr/bin/web --token ${SECRET} }" ;;
    Environment) echo "Environment=API_TOKEN=${SECRET}" ;;
    *) echo "$p=" ;;
  esac
done
`,
  );
  fake("journalctl", `echo "$*" >> "${root}/calls"\necho "Jan 01 web[1234]: started with token ${SECRET}"\n`);
  const run = (params: Record<string, string>, extra: Record<string, string> = {}): { status: number | null; out: string; calls: string } => {
    rmSync(join(root, "calls"), { force: true });
    const result = spawnSync(script, [], { encoding: "utf8", env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, FAKE_PID: String(process.pid), ...params, ...extra } });
    return { status: result.status, out: `${result.stdout}${result.stderr}`, calls: existsSync(join(root, "calls")) ? readFileSync(join(root, "calls"), "utf8") : "" };
  };

  test("by default: the unit's state from a fixed list of properties and its main process name; no command line, environment, process tree or journal", () => {
    const { status, out, calls } = run({ OCF_PARAM_SERVICE: "web" });
    assert.equal(status, 0, out);
    assert.match(out, /^ActiveState=active$/m);
    assert.match(out, /^main process: \d+ \S+/m);
    assert.ok(!out.includes(SECRET), out);
    assert.doesNotMatch(calls, /^status/m, "systemctl status (with its CGroup tree of command lines) is never run");
    assert.doesNotMatch(calls, /ExecStart|Environment/, calls);
    assert.doesNotMatch(calls, /--unit/, "no journal unless asked");
  });

  test("journal lines only when asked for; a stopped unit exits 3, an unknown one 4", () => {
    const asked = run({ OCF_PARAM_SERVICE: "web", OCF_PARAM_LINES: "5" });
    assert.equal(asked.status, 0);
    assert.match(asked.calls, /--lines=5 --unit=web/);
    assert.match(asked.out, /last 5 journal lines of web \(what the service itself logged\):\n.*started with token/);
    assert.equal(run({ OCF_PARAM_SERVICE: "web" }, { FAKE_STATE: "inactive" }).status, 3);
    const unknown = run({ OCF_PARAM_SERVICE: "nope" }, { FAKE_LOAD: "not-found", FAKE_STATE: "inactive" });
    assert.equal(unknown.status, 4);
    assert.match(unknown.out, /nope: no such unit/);
  });
});

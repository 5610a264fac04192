/**
 * ocf cp: files to and from a node, confined to worker.file_roots, checked by SHA-256, bounded in
 * size; never the worker's own config, state, skills or code, nor a local coordinator's secrets.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { ClientError, FleetClient } from "../../src/client/client.js";
import { runCli, spawnCli, TestFleet, waitFor } from "../helpers/fleet.js";

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

async function refused(promise: Promise<unknown>, code: string, status: number): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    return error.message;
  }
  assert.fail(`expected ${code}`);
}

describe("files to and from a node", () => {
  const fleet = new TestFleet();
  let shared = "";
  let outside = "";

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    shared = join(fleet.dir, "shared");
    outside = join(fleet.dir, "outside");
    mkdirSync(join(shared, "sub"), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "secret.txt"), "not yours\n");
    symlinkSync(join(outside, "secret.txt"), join(shared, "link-out.txt"));
    await fleet.addApprovedWorker("nas", { workdir: shared, worker: { file_roots: [shared], max_file_bytes: 256 * 1024 } });
    await fleet.addApprovedWorker("locked", { workdir: shared, worker: { exec_policy: "deny", file_roots: [shared] } });
  });
  after(() => fleet.close());

  test("round trip through the API keeps every byte and the checksum", async () => {
    const data = randomBytes(100_000);
    const put = await fleet.client.putFile("nas", "sub/blob.bin", data, sha256(data));
    assert.equal(put.path, join(shared, "sub", "blob.bin"));
    assert.equal(put.bytes, data.length);
    assert.equal(put.sha256, sha256(data));
    assert.ok(readFileSync(join(shared, "sub", "blob.bin")).equals(data));
    const got = await fleet.client.getFile("nas", join(shared, "sub", "blob.bin"));
    assert.ok(got.data.equals(data));
    assert.equal(got.sha256, sha256(data));
    const audit = await fleet.client.audit({ node: "nas", limit: 2 });
    assert.deepEqual(audit.map((entry) => entry.action), ["file.get", "file.put"]);
  });

  test("ocf cp both ways", async () => {
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const local = join(fleet.dir, "report.txt");
    writeFileSync(local, "quarterly numbers\n");
    const up = await runCli(["cp", local, "nas:sub/"], { env });
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /→ nas:.*\/shared\/sub\/report\.txt \(18 bytes, sha256 /);
    const back = join(fleet.dir, "back.txt");
    const down = await runCli(["cp", "nas:sub/report.txt", back], { env });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(readFileSync(back, "utf8"), "quarterly numbers\n");
    const both = await runCli(["cp", "nas:a", "nas:b"], { env });
    assert.equal(both.code, 2);
  });

  test("paths outside the roots are refused: traversal, absolute paths, symlinks out", async () => {
    assert.match(await refused(fleet.client.getFile("nas", "../outside/secret.txt"), "policy_denied", 403), /outside the folders this worker shares/);
    await refused(fleet.client.getFile("nas", "/etc/passwd"), "policy_denied", 403);
    await refused(fleet.client.getFile("nas", "link-out.txt"), "policy_denied", 403);
    await refused(fleet.client.putFile("nas", "../outside/planted.txt", Buffer.from("x"), sha256(Buffer.from("x"))), "policy_denied", 403);
    assert.equal(existsSync(join(outside, "planted.txt")), false);
    await refused(fleet.client.putFile("nas", "link-out.txt", Buffer.from("x"), sha256(Buffer.from("x"))), "policy_denied", 403);
    assert.equal(readFileSync(join(outside, "secret.txt"), "utf8"), "not yours\n");
  });

  test("size limits, a wrong checksum, missing files and folders", async () => {
    const big = randomBytes(300 * 1024);
    assert.match(await refused(fleet.client.putFile("nas", "big.bin", big, sha256(big)), "payload_too_large", 413), /limit is 262144 \(worker\.max_file_bytes\)/);
    writeFileSync(join(shared, "big-local.bin"), big);
    await refused(fleet.client.getFile("nas", "big-local.bin"), "payload_too_large", 413);
    const data = Buffer.from("hello");
    assert.match(await refused(fleet.client.putFile("nas", "x.txt", data, sha256(Buffer.from("other"))), "bad_request", 400), /checksum mismatch/);
    assert.equal(existsSync(join(shared, "x.txt")), false);
    await refused(fleet.client.getFile("nas", "nope.txt"), "not_found", 404);
    await refused(fleet.client.putFile("nas", "no/such/dir/x.txt", data, sha256(data)), "not_found", 404);
    await refused(fleet.client.getFile("nas", "sub"), "bad_request", 400);
    // Written files are private to the worker's user.
    await fleet.client.putFile("nas", "private.txt", data, sha256(data));
    assert.equal(statSync(join(shared, "private.txt")).mode & 0o777, 0o600);
  });

  test("exec_policy deny refuses files; a read token may not touch them", async () => {
    writeFileSync(join(shared, "visible.txt"), "v");
    assert.match(await refused(fleet.client.getFile("locked", "visible.txt"), "policy_denied", 403), /exec_policy: deny/);
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: (await fleet.client.createToken("file-reader", "read")).token });
    await refused(reader.getFile("nas", "visible.txt"), "forbidden", 403);
  });
});

describe("a worker never lets the fleet rewrite its own policy, state or credentials", { timeout: 120_000 }, () => {
  const fleet = new TestFleet();
  let vmHome = "";
  let vmConfig = "";
  let vm: ChildProcess | undefined;
  let fullHome = "";
  let colo: ChildProcess | undefined;
  const env = (): NodeJS.ProcessEnv => ({ OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token });
  const execRefused = async (node: string, command: string): Promise<string> => {
    const result = await fleet.client.exec(node, command).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(result instanceof ClientError, `${command} ran on ${node}`);
    assert.equal(result.code, "policy_denied", result.message);
    return result.message;
  };

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    // The machine: a real `ocf worker -c <home>/config.yaml` process under exec_policy
    // allowlist whose exec_workdir (and so its only file root) is the folder holding its config
    // file and its state; it reloads the config when the file changes.
    vmHome = join(fleet.dir, "vm-home");
    mkdirSync(vmHome, { recursive: true });
    vmConfig = join(vmHome, "config.yaml");
    writeFileSync(vmConfig, toYaml(fleet.config({
      worker: { exec_policy: "allowlist", exec_allowlist: ["echo *"], exec_workdir: vmHome, state_dir: join(vmHome, ".openclaw-federation", "worker"), skills_dir: join(vmHome, "skills") },
      log: { level: "info", dir: join(fleet.dir, "vm-logs") },
    })));
    vm = spawnCli(["worker", "-c", vmConfig, "--node-id", "vm"]);
    const request = await waitFor("the vm's join request", async () => (await fleet.client.pending()).find((r) => r.node_id === "vm"), 30_000, 100);
    await fleet.client.approve(request.request_id);
    await waitFor("vm online", async () => (await fleet.client.node("vm")).status === "online", 30_000, 100);

    // A full-policy worker whose home holds its config file and state.
    fullHome = join(fleet.dir, "full-home");
    mkdirSync(fullHome, { recursive: true });
    writeFileSync(join(fullHome, "worker.yaml"), "worker:\n  exec_policy: full\n");
    await fleet.addApprovedWorker("full-vm", { workdir: fullHome, stateDir: join(fullHome, ".openclaw-federation", "worker"), configFile: join(fullHome, "worker.yaml") });
  });
  after(async () => {
    if (vm && vm.exitCode === null && vm.signalCode === null) vm.kill("SIGKILL");
    if (colo && colo.exitCode === null && colo.signalCode === null) colo.kill("SIGKILL");
    await fleet.close();
  });

  test("the issue's reproduction: the config can be read, not written back with exec_policy: full; the policy stays allowlist", async () => {
    const original = readFileSync(vmConfig);
    const got = await fleet.client.getFile("vm", "config.yaml");
    assert.ok(got.data.equals(original), "reading its own config is allowed");
    const edited = parseYaml(got.data.toString("utf8")) as { worker: Record<string, unknown> };
    edited.worker.exec_policy = "full";
    const upgraded = Buffer.from(toYaml(edited));
    const message = await refused(fleet.client.putFile("vm", "config.yaml", upgraded, sha256(upgraded)), "policy_denied", 403);
    assert.match(message, /vm refuses to write config\.yaml: .*exec_policy is allowlist.*worker\.allow_file_writes: true/);
    assert.ok(readFileSync(vmConfig).equals(original), "the config file is untouched");
    // Give a reload (200 ms after a change) every chance to happen: nothing changed.
    await new Promise((r) => setTimeout(r, 800));
    assert.match(await execRefused("vm", "id"), /matches no pattern in worker\.exec_allowlist/);
    assert.equal((await fleet.client.exec("vm", "echo still allowlist")).stdout, "still allowlist\n");
    // Its identity and credentials cannot be read either.
    assert.match(await refused(fleet.client.getFile("vm", ".openclaw-federation/worker/identity.seed"), "policy_denied", 403), /own state folder \(worker\.state_dir/);
    // The refusal is in the worker's log at warn.
    const log = await waitFor("the refusal in the worker's log", () => {
      const path = join(fleet.dir, "vm-logs", "worker.log");
      return existsSync(path) && readFileSync(path, "utf8").split("\n").filter((line) => line.includes('"code":"policy_denied"') && line.includes("file.put"));
    }, 5000);
    assert.ok(log.length > 0 && log.every((line) => (JSON.parse(line) as { level: number }).level === 40), log.join("\n"));
  });

  test("allow_file_writes and file_roots change on reload; the config and state stay out of reach", async () => {
    const edit = (change: (worker: Record<string, unknown>) => void): void => {
      const config = parseYaml(readFileSync(vmConfig, "utf8")) as { worker: Record<string, unknown> };
      change(config.worker);
      writeFileSync(vmConfig, toYaml(config));
      vm?.kill("SIGHUP");
    };
    const note = Buffer.from("a normal file\n");
    edit((worker) => {
      worker.allow_file_writes = true;
    });
    await waitFor("writes allowed after the reload", async () => (await fleet.client.putFile("vm", "note.txt", note, sha256(note)).catch(() => undefined))?.bytes === note.length, 10_000, 200);
    assert.ok(readFileSync(join(vmHome, "note.txt")).equals(note));
    const full = Buffer.from(readFileSync(vmConfig, "utf8").replace("exec_policy: allowlist", "exec_policy: full"));
    assert.match(await refused(fleet.client.putFile("vm", "config.yaml", full, sha256(full)), "policy_denied", 403), /config\.yaml is this worker's own config file/);
    assert.match(await refused(fleet.client.putFile("vm", ".openclaw-federation/worker/node.jwt", note, sha256(note)), "policy_denied", 403), /own state folder/);
    assert.match(await refused(fleet.client.putFile("vm", ".openclaw-federation/worker/tasks/planted.json", note, sha256(note)), "policy_denied", 403), /own state folder/);
    mkdirSync(join(vmHome, "skills"), { recursive: true });
    assert.match(await refused(fleet.client.putFile("vm", "skills/shell/skill.yaml", note, sha256(note)), "policy_denied", 403), /skills folder \(worker\.skills_dir/);
    assert.equal(existsSync(join(vmHome, "skills", "shell")), false);
    await execRefused("vm", "id");
    // A narrower file_roots takes effect without a restart.
    mkdirSync(join(vmHome, "public"), { recursive: true });
    edit((worker) => {
      worker.file_roots = [join(vmHome, "public")];
    });
    await waitFor("the new roots in force", async () => (await fleet.client.getFile("vm", "config.yaml").then(() => "", (error: unknown) => (error as Error).message)).includes("outside the folders this worker shares"), 10_000, 200);
    assert.equal((await fleet.client.putFile("vm", join(vmHome, "public", "n.txt"), note, sha256(note))).bytes, note.length);
  });

  test("a full-policy worker refuses writing its own config and reading its identity seed", async () => {
    const data = Buffer.from("worker:\n  exec_policy: full\n  exec_allowlist: []\n");
    assert.match(await refused(fleet.client.putFile("full-vm", "worker.yaml", data, sha256(data)), "policy_denied", 403), /worker\.yaml is this worker's own config file .*may not write it/);
    assert.equal(readFileSync(join(fullHome, "worker.yaml"), "utf8"), "worker:\n  exec_policy: full\n");
    assert.match(await refused(fleet.client.getFile("full-vm", ".openclaw-federation/worker/identity.seed"), "policy_denied", 403), /may not read or write it/);
    await refused(fleet.client.putFile("full-vm", ".openclaw-federation/worker/identity.seed", data, sha256(data)), "policy_denied", 403);
    // Everything else in its root works both ways under full.
    assert.equal((await fleet.client.putFile("full-vm", "ok.txt", data, sha256(data))).bytes, data.length);
    assert.ok((await fleet.client.getFile("full-vm", "worker.yaml")).data.length > 0);
  });

  test("a worker sharing the coordinator's config refuses its admin token, NATS keys and database", async () => {
    // Its root is the whole folder holding the coordinator's state dir, database and logs.
    await fleet.addApprovedWorker("master-vm", { workdir: fleet.dir, worker: { file_roots: [fleet.dir] } });
    assert.ok(existsSync(join(fleet.dir, "coordinator", "admin.token")));
    assert.match(await refused(fleet.client.getFile("master-vm", join(fleet.dir, "coordinator", "admin.token")), "policy_denied", 403), /coordinator's state folder \(coordinator\.state_dir/);
    assert.match(await refused(fleet.client.getFile("master-vm", "coordinator/trust/operator.nk"), "policy_denied", 403), /coordinator's state folder/);
    assert.match(await refused(fleet.client.getFile("master-vm", "cluster.db"), "policy_denied", 403), /coordinator's database \(storage\.path/);
    await refused(fleet.client.getFile("master-vm", "cluster.db-wal"), "policy_denied", 403);
  });

  test("a second worker of the same user refuses the first's default state (~/.openclaw-federation, ~/.openclaw-worker) though its own config names neither", async () => {
    // A real `ocf worker` process with HOME set to a folder holding what a hybrid machine has: a
    // worker's state under ~/.openclaw-worker and the default ~/.openclaw-federation/worker. Its own
    // state, config and logs are elsewhere; it runs exec_policy full and shares its whole home.
    const home = join(fleet.dir, "colo-home");
    for (const dir of [".openclaw-federation/worker", ".openclaw-worker"]) mkdirSync(join(home, dir), { recursive: true });
    writeFileSync(join(home, ".openclaw-federation", "worker", "identity.seed"), "SUAFIRST\n");
    writeFileSync(join(home, ".openclaw-worker", "identity.seed"), "SUAHYBRID\n");
    const config = fleet.configFile("colo", {
      worker: { exec_policy: "full", exec_workdir: home, file_roots: [home], state_dir: join(fleet.dir, "colo-state"), skills_dir: join(fleet.dir, "colo-skills") },
      log: { dir: join(fleet.dir, "colo-logs") },
    });
    colo = spawnCli(["worker", "-c", config, "--node-id", "colo"], { HOME: home });
    const request = await waitFor("colo's join request", async () => (await fleet.client.pending()).find((r) => r.node_id === "colo"), 30_000, 100);
    await fleet.client.approve(request.request_id);
    await waitFor("colo online", async () => (await fleet.client.node("colo")).status === "online", 30_000, 100);

    assert.match(await refused(fleet.client.getFile("colo", ".openclaw-federation/worker/identity.seed"), "policy_denied", 403), /default state folder of every ocf coordinator and worker of this user/);
    assert.match(await refused(fleet.client.getFile("colo", ".openclaw-worker/identity.seed"), "policy_denied", 403), /hybrid machine's worker/);
    const planted = Buffer.from("worker:\n  exec_policy: full\n");
    await refused(fleet.client.putFile("colo", ".openclaw-worker/config.yaml", planted, sha256(planted)), "policy_denied", 403);
    await refused(fleet.client.putFile("colo", ".openclaw-federation/worker/config.yaml", planted, sha256(planted)), "policy_denied", 403);
    assert.equal(existsSync(join(home, ".openclaw-worker", "config.yaml")), false);
    // The rest of its home it shares as its config says.
    assert.equal((await fleet.client.putFile("colo", "notes.txt", planted, sha256(planted))).bytes, planted.length);
  });

  test("ocf cp: a refusal is one line naming it, exit 1", async () => {
    const local = join(fleet.dir, "evil.yaml");
    writeFileSync(local, "worker:\n  exec_policy: full\n");
    const up = await runCli(["cp", local, "full-vm:worker.yaml"], { env: env() });
    assert.equal(up.code, 1, up.stderr);
    assert.match(up.stderr, /policy_denied: worker\.yaml is this worker's own config file/);
    const down = await runCli(["cp", "full-vm:.openclaw-federation/worker/identity.seed", join(fleet.dir, "stolen.seed")], { env: env() });
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /policy_denied: .*own state folder/);
    assert.equal(existsSync(join(fleet.dir, "stolen.seed")), false);
  });
});

/**
 * File calls never reach the worker's own places: its config, state, skills and code, the deploy's
 * env folder, and what a coordinator on the same machine keeps. Checked on real paths (links,
 * `..`, symlinked parents, new files), case-insensitively on darwin and win32; file.put follows
 * exec_policy and worker.allow_file_writes (the decision itself: policy.test.ts).
 */
import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfigSchema, type Config } from "../../src/config/schema.js";
import { answerCall, CallFailure, type CallContext } from "../../src/worker/calls.js";
import { FileAccess, FileAccessError, type ProtectedPlace } from "../../src/worker/file-access.js";
import type { ExecPolicy, ExecPolicyMode } from "../../src/worker/policy.js";
import { protectedPlaces } from "../../src/worker/protected.js";
import { SkillCatalog } from "../../src/worker/skills.js";
import { silentLogger } from "../../src/util/logger.js";
import { scratchDirs } from "../helpers/fixtures.js";

const { freshDir } = scratchDirs("file-access");

/**
 * A home folder shared as the file root that holds everything a master-and-worker machine has:
 * worker state, coordinator state, database, logs, skills, the software, the deploy's env folder
 * and the config file.
 */
function machine(options: { platform?: NodeJS.Platform; stateDir?: (home: string) => string } = {}): { home: string; files: FileAccess; config: Config; places: ProtectedPlace[] } {
  const home = freshDir();
  const stateDir = options.stateDir?.(home) ?? join(home, ".openclaw-federation", "worker");
  const config = ConfigSchema.parse({
    storage: { path: "data/cluster.db" },
    coordinator: { state_dir: "~/.openclaw-federation/coordinator" },
    worker: { state_dir: stateDir, skills_dir: "skills", exec_policy: "allowlist" },
    log: { dir: "logs" },
  });
  const resolvePath = (path: string): string => (path.startsWith("~/") ? join(home, path.slice(2)) : path.startsWith("/") ? path : join(home, path));
  for (const dir of [stateDir, join(home, ".openclaw-federation", "coordinator", "trust"), join(home, "data"), join(home, "logs"), join(home, "skills", "disk-usage"), join(home, "app", "dist"), join(home, ".config", "openclaw-federation"), join(home, "docs")]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(join(stateDir, "identity.seed"), "SUAEXAMPLESEED\n");
  writeFileSync(join(stateDir, "node.jwt"), "eyJ.jwt\n");
  writeFileSync(join(home, ".openclaw-federation", "coordinator", "admin.token"), "admin-token\n");
  writeFileSync(join(home, ".openclaw-federation", "coordinator", "trust", "operator.nk"), "SOOPERATOR\n");
  writeFileSync(join(home, "data", "cluster.db"), "db");
  writeFileSync(join(home, "data", "cluster.db-wal"), "wal");
  writeFileSync(join(home, "logs", "worker.log"), "{}\n");
  writeFileSync(join(home, "skills", "disk-usage", "skill.yaml"), "name: disk-usage\n");
  writeFileSync(join(home, "app", "dist", "main.js"), "// code\n");
  writeFileSync(join(home, ".config", "openclaw-federation", "worker.env"), "OCF_WORKER_EXEC_POLICY=allowlist\n");
  writeFileSync(join(home, "config.yaml"), "worker:\n  exec_policy: allowlist\n");
  writeFileSync(join(home, "docs", "notes.txt"), "notes\n");
  const places = protectedPlaces(config, {
    configFile: join(home, "config.yaml"),
    stateDir,
    skillsDir: join(home, "skills"),
    installRoot: join(home, "app"),
    deployEnvDir: join(home, ".config", "openclaw-federation"),
    resolvePath,
  });
  const files = new FileAccess({ roots: [home], workdir: home, maxBytes: 1024 * 1024, protectedPlaces: () => places, ...(options.platform ? { platform: options.platform } : {}) });
  return { home, files, config, places };
}

function refusal(fn: () => unknown): FileAccessError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FileAccessError, String(error));
    assert.equal(error.code, "policy_denied", error.message);
    return error;
  }
  assert.fail("expected policy_denied");
}

const data = Buffer.from("fleet wrote this\n");

describe("the worker's own places", () => {
  test("secrets are refused to reads and writes: worker state, coordinator state, database, deploy env", () => {
    const { home, files } = machine();
    const secrets: Array<[string, RegExp]> = [
      [".openclaw-federation/worker/identity.seed", /is inside this worker's own state folder \(worker\.state_dir: .*\); the fleet may not read or write it/],
      [".openclaw-federation/worker/node.jwt", /own state folder/],
      [".openclaw-federation/worker", /is this worker's own state folder/],
      [".openclaw-federation/coordinator/admin.token", /coordinator's state folder \(coordinator\.state_dir/],
      [".openclaw-federation/coordinator/trust/operator.nk", /coordinator's state folder/],
      ["data/cluster.db", /is the coordinator's database \(storage\.path/],
      ["data/cluster.db-wal", /coordinator's database/],
      ["data/cluster.db-shm", /coordinator's database/],
      [".config/openclaw-federation/worker.env", /deploy's settings folder, whose OCF_\* overrides set this worker's policy/],
    ];
    for (const [path, message] of secrets) {
      assert.match(refusal(() => files.read(path)).message, message, path);
      assert.match(refusal(() => files.write(path, data)).message, /may not read or write it/, path);
    }
    assert.equal(readFileSync(join(home, ".openclaw-federation", "worker", "identity.seed"), "utf8"), "SUAEXAMPLESEED\n");
    assert.equal(readFileSync(join(home, ".openclaw-federation", "coordinator", "admin.token"), "utf8"), "admin-token\n");
  });

  test("config, skills, software and logs may be read but never written", () => {
    const { home, files } = machine();
    const readable: Array<[string, RegExp]> = [
      ["config.yaml", /config\.yaml is this worker's own config file \(--config \/ OCF_CONFIG: .*\); the fleet may not write it/],
      ["skills/disk-usage/skill.yaml", /inside this worker's skills folder \(worker\.skills_dir/],
      ["app/dist/main.js", /inside the software this worker runs \(install root/],
      ["logs/worker.log", /inside the log folder \(log\.dir/],
    ];
    for (const [path, message] of readable) {
      assert.ok(files.read(path).data.length > 0, path);
      assert.match(refusal(() => files.write(path, data)).message, message, path);
    }
    assert.equal(readFileSync(join(home, "config.yaml"), "utf8"), "worker:\n  exec_policy: allowlist\n");
    // Everything else in the root still works both ways.
    assert.equal(files.write("docs/new.txt", data).bytes, data.length);
    assert.deepEqual(files.read("docs/new.txt").data, data);
  });

  test("a new file or folder inside a protected folder is refused before anything is created", () => {
    const { home, files } = machine();
    refusal(() => files.write(".openclaw-federation/worker/tasks/x.1.json", data));
    refusal(() => files.write(".openclaw-federation/worker/new.seed", data));
    refusal(() => files.write("skills/evil/skill.yaml", data));
    refusal(() => files.write(".config/openclaw-federation/worker.env.new", data));
    refusal(() => files.write("app/dist/inject.js", data));
    refusal(() => files.read(".openclaw-federation/coordinator/not-yet-there.json"));
    assert.equal(existsSync(join(home, ".openclaw-federation", "worker", "new.seed")), false);
    assert.equal(existsSync(join(home, "skills", "evil")), false);
    assert.equal(existsSync(join(home, "app", "dist", "inject.js")), false);
  });

  test("`..` is normalized before the check", () => {
    const { home, files } = machine();
    refusal(() => files.read("docs/../.openclaw-federation/worker/identity.seed"));
    refusal(() => files.read(`${home}/docs/./../data/../.openclaw-federation/coordinator/admin.token`));
    refusal(() => files.write("docs/../config.yaml", data));
    refusal(() => files.write("skills/disk-usage/../../app/dist/main.js", data));
  });

  test("a symlink inside a root pointing into a protected place is refused, for files and folders", () => {
    const { home, files } = machine();
    symlinkSync(join(home, ".openclaw-federation", "worker", "identity.seed"), join(home, "docs", "innocent.txt"));
    symlinkSync(join(home, ".openclaw-federation", "worker"), join(home, "docs", "state"));
    symlinkSync(join(home, "config.yaml"), join(home, "docs", "config-copy.yaml"));
    symlinkSync(join(home, ".openclaw-federation", "coordinator"), join(home, "coord"));
    assert.match(refusal(() => files.read("docs/innocent.txt")).message, /own state folder/);
    refusal(() => files.read("docs/state/node.jwt"));
    refusal(() => files.write("docs/state/identity.seed", data));
    // A new file through a linked folder lands in the protected folder: refused.
    refusal(() => files.write("docs/state/planted.txt", data));
    assert.equal(existsSync(join(home, ".openclaw-federation", "worker", "planted.txt")), false);
    // Writing "through" a link to the config file would replace the config: refused; reading it is fine.
    refusal(() => files.write("docs/config-copy.yaml", data));
    assert.ok(files.read("docs/config-copy.yaml").data.length > 0);
    refusal(() => files.read("coord/trust/operator.nk"));
    // A dangling link into a protected folder: the write replaces the link, never creates its target.
    symlinkSync(join(home, ".openclaw-federation", "worker", "future.seed"), join(home, "docs", "dangling"));
    files.write("docs/dangling", data);
    assert.equal(existsSync(join(home, ".openclaw-federation", "worker", "future.seed")), false);
    assert.ok(lstatSync(join(home, "docs", "dangling")).isFile());
  });

  test("a protected folder reached through a symlinked parent is still protected, by either name", () => {
    // The state dir is configured as <home>/alias/worker, where <home>/alias -> <home>/real-ocf.
    const { home, files } = machine({
      stateDir: (dir) => {
        mkdirSync(join(dir, "real-ocf"), { recursive: true });
        symlinkSync(join(dir, "real-ocf"), join(dir, "alias"));
        return join(dir, "alias", "worker");
      },
    });
    assert.ok(existsSync(join(home, "real-ocf", "worker", "identity.seed")));
    refusal(() => files.read("real-ocf/worker/identity.seed"));
    refusal(() => files.read("alias/worker/identity.seed"));
    refusal(() => files.write("real-ocf/worker/node.jwt", data));
    refusal(() => files.write("real-ocf/worker/new-file", data));
    // Its sibling in the real folder is not protected.
    assert.equal(files.write("real-ocf/other.txt", data).bytes, data.length);
  });

  test("the install root's symlinked parts (node_modules, .runtime in a worktree) are the software too", () => {
    const root = freshDir();
    const app = join(root, "app");
    const shared = join(root, "shared");
    mkdirSync(join(app, "dist"), { recursive: true });
    mkdirSync(join(shared, "node_modules", "pino"), { recursive: true });
    writeFileSync(join(shared, "node_modules", "pino", "index.js"), "// pino\n");
    symlinkSync(join(shared, "node_modules"), join(app, "node_modules"));
    const config = ConfigSchema.parse({ storage: { path: join(root, "db", "x.db") }, coordinator: { state_dir: join(root, "c") }, worker: { state_dir: join(root, "w"), skills_dir: join(root, "s") }, log: { dir: join(root, "l") } });
    const places = protectedPlaces(config, { stateDir: join(root, "w"), skillsDir: join(root, "s"), installRoot: app, deployEnvDir: join(root, "env"), resolvePath: (p) => p });
    const files = new FileAccess({ roots: [shared], workdir: shared, maxBytes: 1024, protectedPlaces: () => places });
    assert.match(refusal(() => files.write("node_modules/pino/index.js", data)).message, /part of the software this worker runs/);
    assert.ok(files.read("node_modules/pino/index.js").data.length > 0);
  });

  test("on darwin and win32 a protected place matches whatever the case of the request", () => {
    const linux = machine({ platform: "linux" });
    const darwin = machine({ platform: "darwin" });
    const win = machine({ platform: "win32" });
    const spelled = ".OpenClaw-Federation/Worker/Identity.SEED";
    // On this (case-sensitive) file system the name is another file: not found on linux, refused where case folds.
    assert.throws(() => linux.files.read(spelled), (error: unknown) => error instanceof FileAccessError && error.code === "not_found");
    assert.match(refusal(() => darwin.files.read(spelled)).message, /own state folder/);
    refusal(() => win.files.write(".CONFIG/openclaw-federation/worker.env", data));
    refusal(() => darwin.files.write("Config.YAML", data));
    refusal(() => darwin.files.write(`${darwin.home}/Skills/new/skill.yaml`, data));
  });

  test("the roots can change live (worker.file_roots on reload)", () => {
    const { home, files } = machine();
    files.setRoots([join(home, "docs")]);
    assert.ok(files.read("docs/notes.txt").data.length > 0);
    assert.match(refusal(() => files.read(join(home, "logs", "worker.log"))).message, /outside the folders this worker shares/);
  });
});

describe("a second worker on the same machine", () => {
  /**
   * A user's home holding what other roles keep there by default: a worker and a coordinator under
   * ~/.openclaw-federation/, a hybrid worker under ~/.openclaw-worker/, the deploy's env files.
   */
  function colocatedHome(): string {
    const home = freshDir();
    for (const dir of [".openclaw-federation/worker", ".openclaw-federation/coordinator/trust", ".openclaw-worker", ".config/openclaw-federation", "docs"]) mkdirSync(join(home, dir), { recursive: true });
    writeFileSync(join(home, ".openclaw-federation", "worker", "identity.seed"), "SUAFIRSTWORKER\n");
    writeFileSync(join(home, ".openclaw-federation", "coordinator", "admin.token"), "admin\n");
    writeFileSync(join(home, ".openclaw-worker", "identity.seed"), "SUAHYBRIDWORKER\n");
    writeFileSync(join(home, ".openclaw-worker", "node.jwt"), "eyJ\n");
    writeFileSync(join(home, ".config", "openclaw-federation", "worker.env"), "OCF_WORKER_EXEC_POLICY=allowlist\n");
    writeFileSync(join(home, "docs", "notes.txt"), "notes\n");
    return home;
  }

  /** A full-policy worker of the same user whose own config puts its state, skills, env folder and the coordinator's state elsewhere. */
  function otherWorker(home: string, options: { passHome: boolean }): FileAccess {
    const elsewhere = freshDir();
    const config = ConfigSchema.parse({
      storage: { path: join(elsewhere, "db", "cluster.db") },
      coordinator: { state_dir: join(elsewhere, "coordinator") },
      worker: { state_dir: join(elsewhere, "state"), skills_dir: join(elsewhere, "skills"), exec_policy: "full" },
      log: { dir: join(elsewhere, "logs") },
    });
    const places = protectedPlaces(config, {
      configFile: join(elsewhere, "worker.yaml"),
      stateDir: join(elsewhere, "state"),
      skillsDir: join(elsewhere, "skills"),
      installRoot: join(elsewhere, "app"),
      deployEnvDir: join(elsewhere, "env"),
      resolvePath: (path) => path,
      ...(options.passHome ? { home } : {}),
    });
    return new FileAccess({ roots: [home], workdir: home, maxBytes: 1024 * 1024, protectedPlaces: () => places });
  }

  test("its own config names none of them, yet it refuses the other roles' default state: identities, tokens, env files; reading and writing", () => {
    const home = colocatedHome();
    const files = otherWorker(home, { passHome: true });
    assert.match(refusal(() => files.read(".openclaw-federation/worker/identity.seed")).message, /inside the default state folder of every ocf coordinator and worker of this user on this machine \(default coordinator\.state_dir and worker\.state_dir: .*\.openclaw-federation\); the fleet may not read or write it/);
    assert.match(refusal(() => files.read(".openclaw-worker/identity.seed")).message, /inside the state folder of a hybrid machine's worker of this user \(written by bin\/deploy-federation\.sh hybrid: .*\.openclaw-worker\)/);
    refusal(() => files.read(".openclaw-worker/node.jwt"));
    refusal(() => files.read(".openclaw-federation/coordinator/admin.token"));
    assert.match(refusal(() => files.read(".config/openclaw-federation/worker.env")).message, /deploy's settings folder/);
    // Nor can it plant a config (or anything) for the other worker to load.
    for (const path of [".openclaw-worker/config.yaml", ".openclaw-federation/worker/config.yaml", ".openclaw-worker/identity.seed", ".config/openclaw-federation/worker.env", ".openclaw-federation/new/x"]) {
      assert.match(refusal(() => files.write(path, data)).message, /may not read or write it/, path);
    }
    assert.equal(existsSync(join(home, ".openclaw-worker", "config.yaml")), false);
    assert.equal(existsSync(join(home, ".openclaw-federation", "worker", "config.yaml")), false);
    assert.equal(readFileSync(join(home, ".openclaw-worker", "identity.seed"), "utf8"), "SUAHYBRIDWORKER\n");
    // A link elsewhere in the home does not get around it.
    symlinkSync(join(home, ".openclaw-worker"), join(home, "docs", "hybrid"));
    refusal(() => files.read("docs/hybrid/identity.seed"));
    // The rest of the home is shared as before.
    assert.equal(files.write("docs/new.txt", data).bytes, data.length);
    assert.ok(files.read("docs/notes.txt").data.length > 0);
  });

  test("the home folder is the current user's, as os.homedir() reads it (HOME), when the worker does not say", () => {
    const home = colocatedHome();
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const files = otherWorker(home, { passHome: false });
      refusal(() => files.read(".openclaw-federation/worker/identity.seed"));
      refusal(() => files.read(".openclaw-worker/identity.seed"));
      refusal(() => files.write(".openclaw-worker/config.yaml", data));
    } finally {
      if (saved === undefined) delete process.env.HOME;
      else process.env.HOME = saved;
    }
  });

  test("this installation's default database folder is a secret too", () => {
    const root = freshDir();
    mkdirSync(join(root, "app", "data"), { recursive: true });
    writeFileSync(join(root, "app", "data", "cluster.db"), "db");
    const config = ConfigSchema.parse({ storage: { path: join(root, "elsewhere.db") }, coordinator: { state_dir: join(root, "c") }, worker: { state_dir: join(root, "w"), skills_dir: join(root, "s") }, log: { dir: join(root, "l") } });
    const places = protectedPlaces(config, { stateDir: join(root, "w"), skillsDir: join(root, "s"), installRoot: join(root, "app"), deployEnvDir: join(root, "env"), resolvePath: (p) => p, home: join(root, "home") });
    const files = new FileAccess({ roots: [root], workdir: root, maxBytes: 1024, protectedPlaces: () => places });
    assert.match(refusal(() => files.read("app/data/cluster.db")).message, /this installation's default database folder \(default storage\.path \.\/data\/cluster\.db/);
  });
});

describe("file.put follows exec_policy and worker.allow_file_writes", () => {
  const policy = (mode: ExecPolicyMode, fileWrites?: boolean): ExecPolicy => ({ mode, allowlist: [], env: [], fileWrites });

  test("file.put through answerCall: refused under allowlist unless allowed, protected places refused either way", async () => {
    const { home, files } = machine();
    const ctx = (fileWrites: boolean | undefined): CallContext => ({
      nodeId: "vm",
      policy: policy("allowlist", fileWrites),
      capabilities: () => ({ list: [], missing: {} }),
      files,
      skills: new SkillCatalog(join(home, "skills"), () => ({ list: [], missing: {} }), {}),
      rescan: () => undefined,
      env: {},
      maxAnswerBytes: () => 1024 * 1024,
      maxOutputBytes: 1024,
      logger: silentLogger(),
      track: () => Promise.reject(new Error("not used")),
    });
    const put = (path: string): { v: 1; id: string; capability: "file.put"; params: { path: string; data: string }; timeout_ms: number } => ({ v: 1, id: "c1", capability: "file.put", params: { path, data: data.toString("base64") }, timeout_ms: 5000 });
    const failure = async (promise: Promise<unknown>): Promise<CallFailure> => {
      try {
        await promise;
      } catch (error) {
        assert.ok(error instanceof CallFailure, String(error));
        return error;
      }
      assert.fail("expected a refusal");
    };
    const refused = await failure(answerCall(put("docs/a.txt"), ctx(undefined)));
    assert.equal(refused.code, "policy_denied");
    assert.match(refused.message, /vm refuses to write docs\/a\.txt: .*worker\.allow_file_writes: true/);
    assert.equal(existsSync(join(home, "docs", "a.txt")), false);
    const written = await answerCall(put("docs/a.txt"), ctx(true));
    assert.equal(written.json?.bytes, data.length);
    const config = await failure(answerCall(put("config.yaml"), ctx(true)));
    assert.equal(config.code, "policy_denied");
    assert.match(config.message, /own config file/);
    // Reads stay allowed under allowlist (within the roots, minus the secrets).
    const got = await answerCall({ v: 1, id: "c2", capability: "file.get", params: { path: "config.yaml" }, timeout_ms: 5000 }, ctx(undefined));
    assert.equal(Buffer.from(got.data ?? "", "base64").toString(), "worker:\n  exec_policy: allowlist\n");
    assert.equal((await failure(answerCall({ v: 1, id: "c3", capability: "file.get", params: { path: ".openclaw-federation/worker/identity.seed" }, timeout_ms: 5000 }, ctx(true)))).code, "policy_denied");
  });
});

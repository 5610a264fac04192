import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { parse } from "yaml";
import { ConfigError, INSTALL_ROOT, defaultConfigPath, loadConfig } from "../../src/config/load.js";
import { scratchDirs } from "../helpers/fixtures.js";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const SEED_FILE = join(REPO_ROOT, "config", "config.yaml");

const { freshDir } = scratchDirs("config");

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

describe("the shipped config/config.yaml", () => {
  test("holds exactly the seed's sections and keys", () => {
    const raw = parse(readFileSync(SEED_FILE, "utf8")) as Record<string, Record<string, unknown>>;
    const keys = Object.fromEntries(Object.entries(raw).map(([section, values]) => [section, Object.keys(values).sort()]));
    assert.deepEqual(keys, {
      storage: ["path", "type"],
      coordinator: ["heartbeat_check_interval", "heartbeat_timeout", "host", "port"],
      worker: ["heartbeat_interval", "max_concurrent_tasks", "port", "skills_dir"],
      communication: ["nats_url"],
      log: ["format", "level"],
    });
    assert.deepEqual(Object.keys(raw), ["storage", "coordinator", "worker", "communication", "log"]);
  });

  test("loads with the seed's values", () => {
    const { config, file, baseDir } = loadConfig({ path: SEED_FILE, env: {} });
    assert.equal(file, SEED_FILE);
    assert.equal(baseDir, REPO_ROOT, "a file in <root>/config/ resolves against <root>");
    assert.deepEqual(config.storage, { type: "sqlite", path: "./data/cluster.db" });
    assert.equal(config.coordinator.host, "0.0.0.0");
    assert.equal(config.coordinator.port, 8888);
    assert.equal(config.coordinator.heartbeat_timeout, 90);
    assert.equal(config.coordinator.heartbeat_check_interval, 30);
    assert.equal(config.worker.max_concurrent_tasks, 5);
    assert.equal(config.worker.heartbeat_interval, 5);
    assert.equal(config.worker.skills_dir, "./skills");
    assert.equal(config.worker.port, 18789);
    assert.equal(config.communication.nats_url, "nats://127.0.0.1:4222");
    assert.equal(config.log.level, "info", "INFO in the file is normalised to info");
    assert.equal(config.log.format, "json");
  });

  test("the optional keys take their documented defaults", () => {
    const { config } = loadConfig({ path: SEED_FILE, env: {} });
    assert.equal(config.coordinator.auto_approve, false);
    assert.equal(config.coordinator.state_dir, "~/.openclaw-federation/coordinator");
    assert.equal(config.coordinator.exec_timeout, 60);
    assert.equal(config.coordinator.tls_cert, undefined);
    assert.equal(config.coordinator.tls_key, undefined);
    assert.equal(config.worker.state_dir, "~/.openclaw-federation/worker");
    assert.equal(config.worker.max_output_bytes, 1024 * 1024);
    assert.deepEqual(config.worker.labels, {});
    assert.equal(config.worker.exec_policy, "full");
    assert.deepEqual(config.worker.exec_allowlist, []);
    assert.deepEqual(config.worker.exec_env, []);
    assert.equal(config.worker.exec_workdir, "~");
    assert.equal(config.communication.subject_prefix, "ocf");
    assert.equal(config.log.dir, "./logs");
  });
});

describe("defaults", () => {
  test("an empty file gives exactly the same config as the seed file", () => {
    const dir = freshDir();
    writeFileSync(join(dir, "empty.yaml"), "");
    const seed = loadConfig({ path: SEED_FILE, env: {} }).config;
    assert.deepEqual(loadConfig({ path: join(dir, "empty.yaml"), env: {} }).config, seed);
    writeFileSync(join(dir, "comments.yaml"), "# nothing but a comment\n");
    assert.deepEqual(loadConfig({ path: join(dir, "comments.yaml"), env: {} }).config, seed);
  });

  test("a section with some keys keeps the defaults of the others", () => {
    const dir = freshDir();
    writeFileSync(join(dir, "c.yaml"), "coordinator:\n  port: 9999\n");
    const { config } = loadConfig({ path: join(dir, "c.yaml"), env: {} });
    assert.equal(config.coordinator.port, 9999);
    assert.equal(config.coordinator.host, "0.0.0.0");
    assert.equal(config.coordinator.heartbeat_timeout, 90);
  });

  test("without a path, the installation's config/config.yaml is used (or OCF_CONFIG)", () => {
    assert.equal(INSTALL_ROOT, REPO_ROOT);
    assert.equal(defaultConfigPath({}), SEED_FILE);
    assert.equal(defaultConfigPath({ OCF_CONFIG: "/elsewhere/c.yaml" }), "/elsewhere/c.yaml");
    assert.equal(loadConfig({ env: {} }).file, SEED_FILE);
    const dir = freshDir();
    writeFileSync(join(dir, "mine.yaml"), "coordinator:\n  port: 1234\n");
    const picked = loadConfig({ env: { OCF_CONFIG: join(dir, "mine.yaml") } });
    assert.equal(picked.file, join(dir, "mine.yaml"));
    assert.equal(picked.config.coordinator.port, 1234);
  });
});

describe("environment and command-line overrides", () => {
  test("OCF_<SECTION>_<KEY> and the aliases override the file", () => {
    const env = {
      OCF_COORDINATOR_PORT: "9000",
      OCF_NATS_URL: "nats://100.64.0.1:4222",
      OCF_LOG_LEVEL: "DEBUG",
      OCF_WORKER_LABELS: "a=b,c=d",
      OCF_COORDINATOR_AUTO_APPROVE: "true",
      OCF_DB_PATH: "/var/lib/ocf/x.db",
      OCF_COORDINATOR_HEARTBEAT_TIMEOUT: "2.5",
    };
    const { config } = loadConfig({ path: SEED_FILE, env });
    assert.equal(config.coordinator.port, 9000);
    assert.equal(config.communication.nats_url, "nats://100.64.0.1:4222");
    assert.equal(config.log.level, "debug");
    assert.deepEqual(config.worker.labels, { a: "b", c: "d" });
    assert.equal(config.coordinator.auto_approve, true);
    assert.equal(config.storage.path, "/var/lib/ocf/x.db");
    assert.equal(config.coordinator.heartbeat_timeout, 2.5);
    // Untouched keys keep the file's values.
    assert.equal(config.coordinator.host, "0.0.0.0");
    assert.equal(config.worker.port, 18789);
  });

  test("the full names work too, and empty variables are ignored", () => {
    const { config } = loadConfig({
      path: SEED_FILE,
      env: { OCF_COMMUNICATION_NATS_URL: "tls://10.0.0.1:4222", OCF_LOG_FORMAT: "text", OCF_COORDINATOR_HOST: "", OCF_WORKER_PORT: "" },
    });
    assert.equal(config.communication.nats_url, "tls://10.0.0.1:4222");
    assert.equal(config.log.format, "text");
    assert.equal(config.coordinator.host, "0.0.0.0");
    assert.equal(config.worker.port, 18789);
  });

  test("list-valued variables and level synonyms", () => {
    const { config } = loadConfig({
      path: SEED_FILE,
      env: { OCF_WORKER_EXEC_ALLOWLIST: "df *; uptime ;docker ps*", OCF_WORKER_EXEC_ENV: "FOO, BAR BAZ", OCF_WORKER_LABELS: " site=home , , gpu=yes " },
    });
    assert.deepEqual(config.worker.exec_allowlist, ["df *", "uptime", "docker ps*"]);
    assert.deepEqual(config.worker.exec_env, ["FOO", "BAR", "BAZ"]);
    assert.deepEqual(config.worker.labels, { site: "home", gpu: "yes" });
    assert.equal(loadConfig({ path: SEED_FILE, env: { OCF_LOG_LEVEL: "WARNING" } }).config.log.level, "warn");
    assert.equal(loadConfig({ path: SEED_FILE, env: { OCF_LOG_LEVEL: "Critical" } }).config.log.level, "fatal");
  });

  test("command-line overrides win over environment and file; undefined overrides are skipped", () => {
    const env = { OCF_COORDINATOR_PORT: "9000", OCF_NATS_URL: "nats://100.64.0.1:4222" };
    const { config } = loadConfig({
      path: SEED_FILE,
      env,
      overrides: { "coordinator.port": 7000, "coordinator.host": undefined, "communication.nats_url": "nats://10.9.9.9:4222", "worker.labels": { x: "y" } },
    });
    assert.equal(config.coordinator.port, 7000);
    assert.equal(config.coordinator.host, "0.0.0.0");
    assert.equal(config.communication.nats_url, "nats://10.9.9.9:4222");
    assert.deepEqual(config.worker.labels, { x: "y" });
  });

  test("an alias is applied after the long name, so OCF_NATS_URL wins", () => {
    const { config } = loadConfig({ path: SEED_FILE, env: { OCF_COMMUNICATION_NATS_URL: "nats://1.1.1.1:4222", OCF_NATS_URL: "nats://2.2.2.2:4222" } });
    assert.equal(config.communication.nats_url, "nats://2.2.2.2:4222");
  });

  test("the caller's env object is used, not process.env", () => {
    const before = process.env.OCF_COORDINATOR_PORT;
    process.env.OCF_COORDINATOR_PORT = "4321";
    try {
      assert.equal(loadConfig({ path: SEED_FILE, env: {} }).config.coordinator.port, 8888);
    } finally {
      if (before === undefined) delete process.env.OCF_COORDINATOR_PORT;
      else process.env.OCF_COORDINATOR_PORT = before;
    }
  });
});

describe("errors name the key, the value and what is allowed", () => {
  const load = (text: string, env: NodeJS.ProcessEnv = {}): { message: string; file: string } => {
    const dir = freshDir();
    const file = join(dir, "c.yaml");
    writeFileSync(file, text);
    return { message: errorOf(() => loadConfig({ path: file, env })), file };
  };

  test("unknown keys name the key and list the allowed ones", () => {
    const inSection = load("worker:\n  heartbeat_intervall: 5\n");
    assert.match(inSection.message, /unknown key worker\.heartbeat_intervall; allowed in worker: max_concurrent_tasks, heartbeat_interval, skills_dir, port/);
    assert.ok(inSection.message.startsWith(`${inSection.file}: `), inSection.message);
    const topLevel = load("stroage: {}\n");
    assert.match(topLevel.message, /unknown key stroage; allowed: storage, coordinator, worker, scheduler, communication, log$/);
    assert.match(load("coordinator:\n  prot: 1\n").message, /unknown key coordinator\.prot; allowed in coordinator: host, port, heartbeat_timeout, heartbeat_check_interval/);
  });

  test("bad values name the key, the value and what is allowed", () => {
    let r = load("coordinator:\n  port: eighty\n");
    assert.equal(r.message, `${r.file}: coordinator.port = "eighty" is invalid: expected number`);
    r = load("coordinator:\n  port: 70000\n");
    assert.equal(r.message, `${r.file}: coordinator.port = 70000 is invalid: must be <= 65535`);
    r = load("coordinator:\n  port: 80.5\n");
    assert.match(r.message, /coordinator\.port = 80\.5 is invalid/);
    r = load("coordinator:\n  heartbeat_timeout: 0\n");
    assert.equal(r.message, `${r.file}: coordinator.heartbeat_timeout = 0 is invalid: must be > 0`);
    r = load("worker:\n  max_concurrent_tasks: 0\n");
    assert.equal(r.message, `${r.file}: worker.max_concurrent_tasks = 0 is invalid: must be >= 1`);
    r = load("storage:\n  type: postgres\n");
    assert.equal(r.message, `${r.file}: storage.type = "postgres" is invalid: allowed: "sqlite"`);
    assert.match(load("log:\n  level: loud\n").message, /log\.level = "loud" is invalid: allowed: "trace", "debug", "info", "warn", "error", "fatal", "silent"/);
    assert.match(load("log:\n  format: xml\n").message, /log\.format = "xml" is invalid: allowed: "json", "text"/);
    assert.match(load("communication:\n  nats_url: localhost\n").message, /communication\.nats_url = "localhost" is invalid: must be a URL like nats:\/\/HOST:4222/);
    assert.match(load("coordinator: 5\n").message, /coordinator = 5 is invalid: expected object/);
  });

  test("values from the environment or the command line name where they came from", () => {
    assert.equal(
      load("", { OCF_WORKER_MAX_CONCURRENT_TASKS: "0" }).message,
      "environment OCF_WORKER_MAX_CONCURRENT_TASKS: worker.max_concurrent_tasks = 0 is invalid: must be >= 1",
    );
    assert.equal(load("", { OCF_COORDINATOR_PORT: "abc" }).message, 'environment OCF_COORDINATOR_PORT: coordinator.port = "abc" is invalid: expected number');
    assert.equal(load("", { OCF_LOG_LEVEL: "chatty" }).message.split(":")[0], "environment OCF_LOG_LEVEL");
    assert.match(load("", { OCF_WORKER_LABELS: "site" }).message, /worker\.labels: "site" is not key=value/);
    assert.match(load("", { OCF_WORKER_LABELS: "=x" }).message, /"=x" is not key=value/);
    assert.equal(
      errorOf(() => loadConfig({ path: SEED_FILE, env: {}, overrides: { "coordinator.port": "x" } })),
      'command line: coordinator.port = "x" is invalid: expected number',
    );
  });

  test("bad YAML names the line", () => {
    const r = load("storage:\n  type: sqlite\ncoordinator: [1\n");
    assert.match(r.message, /not valid YAML \(line \d+\)/);
    assert.ok(r.message.startsWith(`${r.file}: `), r.message);
    assert.match(load("log:\n\tlevel: info\n").message, /not valid YAML \(line 2\)/);
    assert.match(load("a: 1\nb: 2\n  c: 3\n").message, /not valid YAML \(line 2\)/);
    assert.equal(load("coordinator: [1\n").message.split("\n").length, 1, "one line, not the parser's code frame");
  });

  test("a missing file and a non-mapping top level", () => {
    const dir = freshDir();
    const missing = join(dir, "missing.yaml");
    assert.equal(errorOf(() => loadConfig({ path: missing, env: {} })), `config file not found: ${missing}`);
    assert.match(errorOf(() => loadConfig({ env: { OCF_CONFIG: missing } })), /config file not found/);
    assert.match(load("- a\n- b\n").message, /the top level must be a mapping of sections/);
    assert.match(load("just a string\n").message, /top level must be a mapping/);
    assert.match(load("42\n").message, /top level must be a mapping/);
  });
});

describe("paths", () => {
  test("a config in X/config/ resolves relative paths against X", () => {
    const root = freshDir();
    mkdirSync(join(root, "config"));
    writeFileSync(join(root, "config", "config.yaml"), "storage:\n  path: ./data/x.db\n");
    const loaded = loadConfig({ path: join(root, "config", "config.yaml"), env: {} });
    assert.equal(loaded.baseDir, root);
    assert.equal(loaded.resolvePath(loaded.config.storage.path), join(root, "data", "x.db"));
    assert.equal(loaded.resolvePath("./data/cluster.db"), join(root, "data", "cluster.db"));
    assert.equal(loaded.resolvePath("skills"), join(root, "skills"));
  });

  test("a config elsewhere resolves against its own folder", () => {
    const dir = freshDir();
    mkdirSync(join(dir, "etc"));
    writeFileSync(join(dir, "etc", "other.yaml"), "");
    const loaded = loadConfig({ path: join(dir, "etc", "other.yaml"), env: {} });
    assert.equal(loaded.baseDir, join(dir, "etc"));
    assert.equal(loaded.resolvePath("./data/cluster.db"), join(dir, "etc", "data", "cluster.db"));
    assert.equal(loaded.resolvePath("../logs"), join(dir, "logs"));
  });

  test("~ is the home folder and absolute paths stay as they are", () => {
    const dir = freshDir();
    writeFileSync(join(dir, "c.yaml"), "");
    const loaded = loadConfig({ path: join(dir, "c.yaml"), env: {} });
    assert.equal(loaded.resolvePath("~/.openclaw-worker"), join(homedir(), ".openclaw-worker"));
    assert.equal(loaded.resolvePath("~"), homedir());
    assert.equal(loaded.resolvePath(loaded.config.coordinator.state_dir), join(homedir(), ".openclaw-federation", "coordinator"));
    assert.equal(loaded.resolvePath("/abs/path"), "/abs/path");
    assert.equal(loaded.resolvePath("~user/x"), join(dir, "~user", "x"), "only ~ and ~/ are expanded");
  });

  test("the seed's ./data resolves inside the repository", () => {
    const loaded = loadConfig({ path: SEED_FILE, env: {} });
    assert.equal(loaded.resolvePath(loaded.config.storage.path), join(REPO_ROOT, "data", "cluster.db"));
  });
});

describe("environment values take the type of their key", () => {
  test("a string key keeps a numeric-looking value as a string", () => {
    const { config } = loadConfig({ path: SEED_FILE, env: { OCF_COMMUNICATION_SUBJECT_PREFIX: "2024", OCF_WORKER_SKILLS_DIR: "123" } });
    assert.equal(config.communication.subject_prefix, "2024");
    assert.equal(config.worker.skills_dir, "123");
  });

  test("numeric and boolean keys are converted; yes/no/on/off/1/0 are booleans", () => {
    const { config } = loadConfig({ path: SEED_FILE, env: { OCF_WORKER_MAX_CONCURRENT_TASKS: " 7 ", OCF_COORDINATOR_AUTO_APPROVE: "yes" } });
    assert.equal(config.worker.max_concurrent_tasks, 7);
    assert.equal(config.coordinator.auto_approve, true);
    assert.equal(loadConfig({ path: SEED_FILE, env: { OCF_COORDINATOR_AUTO_APPROVE: "0" } }).config.coordinator.auto_approve, false);
  });

  test("a non-number for a numeric key names the key and the variable", () => {
    const message = errorOf(() => loadConfig({ path: SEED_FILE, env: { OCF_WORKER_MAX_CONCURRENT_TASKS: "many" } }));
    assert.match(message, /OCF_WORKER_MAX_CONCURRENT_TASKS/);
    assert.match(message, /worker\.max_concurrent_tasks = "many"/);
  });
});

describe("worker.allow_file_writes", () => {
  test("unset by default (writes then follow exec_policy); true or false from the file or OCF_WORKER_ALLOW_FILE_WRITES", () => {
    assert.equal(loadConfig({ path: SEED_FILE, env: {} }).config.worker.allow_file_writes, undefined);
    const path = join(freshDir(), "config.yaml");
    writeFileSync(path, "worker:\n  exec_policy: allowlist\n  allow_file_writes: true\n");
    assert.equal(loadConfig({ path, env: {} }).config.worker.allow_file_writes, true);
    assert.equal(loadConfig({ path, env: { OCF_WORKER_ALLOW_FILE_WRITES: "no" } }).config.worker.allow_file_writes, false);
    assert.equal(loadConfig({ path: SEED_FILE, env: { OCF_WORKER_ALLOW_FILE_WRITES: " Yes " } }).config.worker.allow_file_writes, true);
    assert.equal(loadConfig({ path: SEED_FILE, env: { OCF_WORKER_ALLOW_FILE_WRITES: "0" } }).config.worker.allow_file_writes, false);
  });

  test("anything but a boolean names the key, the variable and what is allowed", () => {
    assert.equal(
      errorOf(() => loadConfig({ path: SEED_FILE, env: { OCF_WORKER_ALLOW_FILE_WRITES: "sometimes" } })),
      'environment OCF_WORKER_ALLOW_FILE_WRITES: worker.allow_file_writes = "sometimes" is invalid: expected boolean (true or false; in the environment also yes/no, on/off, 1/0)',
    );
    const path = join(freshDir(), "config.yaml");
    writeFileSync(path, "worker:\n  allow_file_writes: maybe\n");
    assert.match(errorOf(() => loadConfig({ path, env: {} })), /config\.yaml: worker\.allow_file_writes = "maybe" is invalid: expected boolean/);
  });
});

describe("empty sections", () => {
  test("a section written with nothing under it takes all its defaults", () => {
    const path = join(freshDir(), "config.yaml");
    writeFileSync(path, "coordinator:\nworker:\n  max_concurrent_tasks: 3\n");
    const { config } = loadConfig({ path, env: {} });
    assert.equal(config.coordinator.auto_approve, loadConfig({ path: SEED_FILE, env: {} }).config.coordinator.auto_approve);
    assert.equal(config.worker.max_concurrent_tasks, 3);
  });
});

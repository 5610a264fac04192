import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { ConfigError, loadConfig } from "../../src/config/load.js";
import { REPO_ROOT, tempDir } from "../helpers/fleet.js";

const SEED_FILE = join(REPO_ROOT, "config", "config.yaml");

test("config/config.yaml holds exactly the seed's sections and keys", () => {
  const raw = parse(readFileSync(SEED_FILE, "utf8")) as Record<string, Record<string, unknown>>;
  const keys = Object.fromEntries(Object.entries(raw).map(([section, values]) => [section, Object.keys(values).sort()]));
  assert.deepEqual(keys, {
    storage: ["path", "type"],
    coordinator: ["heartbeat_check_interval", "heartbeat_timeout", "host", "port"],
    worker: ["heartbeat_interval", "max_concurrent_tasks", "port", "skills_dir"],
    communication: ["nats_url"],
    log: ["format", "level"],
  });
});

test("defaults equal the seed's values", () => {
  const { config } = loadConfig({ path: SEED_FILE, env: {} });
  assert.deepEqual(config.storage, { type: "sqlite", path: "./data/cluster.db" });
  assert.equal(config.coordinator.host, "0.0.0.0");
  assert.equal(config.coordinator.port, 8888);
  assert.equal(config.coordinator.heartbeat_timeout, 90);
  assert.equal(config.coordinator.heartbeat_check_interval, 30);
  assert.equal(config.coordinator.auto_approve, false);
  assert.equal(config.worker.max_concurrent_tasks, 5);
  assert.equal(config.worker.heartbeat_interval, 5);
  assert.equal(config.worker.skills_dir, "./skills");
  assert.equal(config.worker.port, 18789);
  assert.equal(config.communication.nats_url, "nats://127.0.0.1:4222");
  assert.equal(config.log.level, "info");
  assert.equal(config.log.format, "json");
  // An empty file gives the same defaults.
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "empty.yaml"), "");
    assert.deepEqual(loadConfig({ path: join(dir.path, "empty.yaml"), env: {} }).config, config);
  } finally {
    dir.cleanup();
  }
});

test("environment overrides, aliases, and command-line overrides win in that order", () => {
  const env = { OCF_COORDINATOR_PORT: "9000", OCF_NATS_URL: "nats://100.64.0.1:4222", OCF_LOG_LEVEL: "DEBUG", OCF_WORKER_LABELS: "site=home,gpu=yes", OCF_COORDINATOR_AUTO_APPROVE: "true" };
  const { config } = loadConfig({ path: SEED_FILE, env });
  assert.equal(config.coordinator.port, 9000);
  assert.equal(config.communication.nats_url, "nats://100.64.0.1:4222");
  assert.equal(config.log.level, "debug");
  assert.deepEqual(config.worker.labels, { site: "home", gpu: "yes" });
  assert.equal(config.coordinator.auto_approve, true);
  const flagged = loadConfig({ path: SEED_FILE, env, overrides: { "coordinator.port": 7000, "coordinator.host": undefined } });
  assert.equal(flagged.config.coordinator.port, 7000);
  assert.equal(flagged.config.coordinator.host, "0.0.0.0");
  assert.equal(loadConfig({ path: SEED_FILE, env: { OCF_LOG_LEVEL: "WARNING" } }).config.log.level, "warn");
});

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

test("invalid files fail with one message naming the key, the value and what is allowed", () => {
  const dir = tempDir();
  try {
    const file = join(dir.path, "c.yaml");
    const load = (text: string, env: NodeJS.ProcessEnv = {}): string => {
      writeFileSync(file, text);
      return errorOf(() => loadConfig({ path: file, env }));
    };
    assert.equal(load("coordinator:\n  port: eighty\n"), `${file}: coordinator.port = "eighty" is invalid: expected number`);
    assert.equal(load("coordinator:\n  port: 70000\n"), `${file}: coordinator.port = 70000 is invalid: must be <= 65535`);
    assert.equal(load("coordinator:\n  heartbeat_timeout: 0\n"), `${file}: coordinator.heartbeat_timeout = 0 is invalid: must be > 0`);
    assert.equal(load("storage:\n  type: postgres\n"), `${file}: storage.type = "postgres" is invalid: allowed: "sqlite"`);
    assert.match(load("log:\n  level: loud\n"), /log\.level = "loud" is invalid: allowed: "trace", "debug", "info"/);
    assert.match(load("communication:\n  nats_url: localhost\n"), /communication\.nats_url = "localhost" is invalid: must be a URL like nats:\/\/HOST:4222/);
    assert.match(load("worker:\n  heartbeat_intervall: 5\n"), /unknown key worker\.heartbeat_intervall; allowed in worker: max_concurrent_tasks, heartbeat_interval, skills_dir, port/);
    assert.match(load("stroage: {}\n"), /unknown key stroage; allowed: storage, coordinator, worker, communication, log/);
    assert.match(load("coordinator: [1\n"), /not valid YAML \(line \d+\)/);
    assert.match(load("- a\n- b\n"), /top level must be a mapping/);
    assert.equal(load("", { OCF_WORKER_MAX_CONCURRENT_TASKS: "0" }), "environment OCF_WORKER_MAX_CONCURRENT_TASKS: worker.max_concurrent_tasks = 0 is invalid: must be >= 1");
    assert.match(errorOf(() => loadConfig({ path: join(dir.path, "missing.yaml"), env: {} })), /config file not found/);
  } finally {
    dir.cleanup();
  }
});

test("relative paths resolve against the folder holding config/, or the file's folder", () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir.path, "config"));
    writeFileSync(join(dir.path, "config", "config.yaml"), "storage:\n  path: ./data/x.db\n");
    const inConfig = loadConfig({ path: join(dir.path, "config", "config.yaml"), env: {} });
    assert.equal(inConfig.baseDir, dir.path);
    assert.equal(inConfig.resolvePath(inConfig.config.storage.path), join(dir.path, "data", "x.db"));
    writeFileSync(join(dir.path, "other.yaml"), "");
    const elsewhere = loadConfig({ path: join(dir.path, "other.yaml"), env: {} });
    assert.equal(elsewhere.resolvePath("./logs"), join(dir.path, "logs"));
    assert.equal(elsewhere.resolvePath("~/.openclaw-worker"), join(homedir(), ".openclaw-worker"));
    assert.equal(elsewhere.resolvePath("/abs/path"), "/abs/path");
  } finally {
    dir.cleanup();
  }
});

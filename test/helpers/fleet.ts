/**
 * Test harness: a real nats-server on a free port, and real coordinators and workers (in-process,
 * or the real CLI as child processes). Every suite gets its own temp folder and cleans up.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { stringify as toYaml } from "yaml";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FleetClient } from "../../src/client/client.js";
import { ConfigSchema, type Config } from "../../src/config/schema.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import type { Labels } from "../../src/protocol/messages.js";
import { startNatsServer, type NatsServerHandle } from "../../src/transport/nats-server.js";
import { connectNats, type NatsConnection } from "../../src/transport/connection.js";
import { TrustStore } from "../../src/transport/trust.js";
import { TRUST_DIR } from "../../src/coordinator/coordinator.js";
import { silentLogger, type Logger } from "../../src/util/logger.js";
import { Worker } from "../../src/worker/worker.js";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..");

export function tempDir(prefix = "ocf-test-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Write a test's figures to test-artifacts/<name> (read by scripts/reliability-report.mjs). */
export function writeArtifact(name: string, value: unknown): void {
  const dir = join(REPO_ROOT, "test-artifacts");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
}

export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`);
}

export interface ConfigOverrides {
  coordinator?: Partial<Config["coordinator"]>;
  scheduler?: Partial<Config["scheduler"]>;
  worker?: Partial<Config["worker"]>;
  log?: Partial<Config["log"]>;
  communication?: Partial<Config["communication"]>;
}

/** A config for tests: fast liveness, free HTTP port, everything under `dir`. */
export function testConfig(natsUrl: string, dir: string, overrides: ConfigOverrides = {}): Config {
  return ConfigSchema.parse({
    storage: { type: "sqlite", path: join(dir, "cluster.db") },
    coordinator: { host: "127.0.0.1", port: 0, heartbeat_timeout: 2, heartbeat_check_interval: 0.2, state_dir: join(dir, "coordinator"), exec_timeout: 30, ...overrides.coordinator },
    // No skills unless a test gives a skills_dir (the repo's ./skills would otherwise be found).
    worker: { heartbeat_interval: 0.2, port: 0, state_dir: join(dir, "worker"), skills_dir: join(dir, "no-skills"), ...overrides.worker },
    communication: { nats_url: natsUrl, ...overrides.communication },
    scheduler: { ...overrides.scheduler },
    log: { level: "silent", dir: join(dir, "logs"), ...overrides.log },
  });
}

export class TestFleet {
  readonly dir: string;
  nats!: NatsServerHandle;
  coordinator?: Coordinator;
  client!: FleetClient;
  token = "";
  readonly workers = new Map<string, Worker>();
  private readonly cleanupDir: () => void;
  private readonly overrides: ConfigOverrides;

  constructor(overrides: ConfigOverrides = {}) {
    const { path, cleanup } = tempDir();
    this.dir = path;
    this.cleanupDir = cleanup;
    this.overrides = overrides;
  }

  config(extra: ConfigOverrides = {}): Config {
    const coordinatorUrl = this.coordinator?.url || undefined;
    return testConfig(this.nats.url, this.dir, {
      coordinator: { ...this.overrides.coordinator, ...extra.coordinator },
      worker: { ...this.overrides.worker, ...extra.worker },
      log: { ...this.overrides.log, ...extra.log },
      scheduler: { ...this.overrides.scheduler, ...extra.scheduler },
      communication: { ...(coordinatorUrl ? { coordinator_url: coordinatorUrl } : {}), ...this.overrides.communication, ...extra.communication },
    });
  }

  /** This fleet's config as a file, for coordinators and workers run as child processes (`-c FILE`). */
  configFile(name: string, extra: ConfigOverrides = {}): string {
    const path = join(this.dir, `${name}.yaml`);
    writeFileSync(path, toYaml(this.config(extra)));
    return path;
  }

  /**
   * Run `ocf coordinator -c FILE` as a child process at `url` (the config's port), wait until it is
   * connected to NATS, and point this fleet's client at it. Returns the process (to SIGKILL it).
   */
  async spawnCoordinator(url: string, file: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const child = spawnCli(["coordinator", "-c", file], env);
    await waitFor("child coordinator connected to NATS", async () => {
      if (child.exitCode !== null) throw new Error(`the coordinator exited with ${child.exitCode}`);
      try {
        return ((await (await fetch(`${url}/health`)).json()) as { nats?: { connected?: boolean } }).nats?.connected === true;
      } catch {
        return false;
      }
    }, 60_000, 100);
    const { readFileSync } = await import("node:fs");
    this.token = readFileSync(join(this.dir, "coordinator", "admin.token"), "utf8").trim();
    this.client = new FleetClient({ url, token: this.token, timeoutMs: 10_000 });
    return child;
  }

  /** The fleet's NATS trust, kept where the coordinator of this fleet keeps it. */
  trust(): Promise<TrustStore> {
    return TrustStore.open(join(this.dir, "coordinator", TRUST_DIR));
  }

  /**
   * Start nats-server on a free port (or `port`), in operator mode trusting this fleet's keys as
   * `ocf up` does; `secure: false` starts an open server that lets anyone in.
   */
  async startNats(port?: number, options: { secure?: boolean; maxPayloadBytes?: number } = {}): Promise<void> {
    const extraConfig = options.secure === false ? [] : await (await this.trust()).serverConfig(join(this.dir, "nats", "jwt"));
    this.nats = await startNatsServer({
      dir: join(this.dir, "nats"),
      ...(port ? { port } : {}),
      ...(options.maxPayloadBytes ? { maxPayloadBytes: options.maxPayloadBytes } : {}),
      jetstream: false,
      extraConfig,
    });
  }

  /** A NATS connection with full rights in the fleet account (what the coordinator holds). */
  async connectAdmin(): Promise<NatsConnection> {
    const credentials = await (await this.trust()).serviceCredentials("test-admin");
    return connectNats({ url: this.nats.url, name: "test-admin", logger: silentLogger(), credentials });
  }

  /** `logger`: the coordinator's logger (default: silent), e.g. one writing logs/coordinator.log to count its lines. */
  async startCoordinator(extra: ConfigOverrides = {}, preApproved: Array<{ nodeId: string; publicKey: string }> = [], logger: Logger = silentLogger()): Promise<Coordinator> {
    const config = this.config(extra);
    const coordinator = new Coordinator({
      config,
      dbPath: config.storage.path,
      stateDir: config.coordinator.state_dir,
      logger,
      auditLogDir: config.log.dir,
      preApproved,
      onTokenCreated: (token) => {
        this.token = token;
      },
    });
    await coordinator.start();
    await coordinator.ready();
    this.coordinator = coordinator;
    const { readFileSync } = await import("node:fs");
    this.token = readFileSync(join(config.coordinator.state_dir, "admin.token"), "utf8").trim();
    this.client = new FleetClient({ url: coordinator.url, token: this.token });
    return coordinator;
  }

  async startWorker(nodeId: string, options: { labels?: Labels; worker?: Partial<Config["worker"]>; workdir?: string; stateDir?: string; name?: string; env?: NodeJS.ProcessEnv; configFile?: string } = {}): Promise<Worker> {
    const config = this.config({ worker: options.worker ?? {} });
    const worker = new Worker({
      config,
      nodeId,
      ...(options.name ? { name: options.name } : {}),
      labels: options.labels ?? {},
      stateDir: options.stateDir ?? join(this.dir, "workers", nodeId),
      logger: silentLogger(),
      statusServer: false,
      ...(options.workdir ? { workdir: options.workdir } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.configFile ? { configFile: options.configFile } : {}),
    });
    await worker.start();
    // A second worker with the same node id (an impostor in a test) is tracked under its own key.
    this.workers.set(this.workers.has(nodeId) ? `${nodeId}#${this.workers.size}` : nodeId, worker);
    return worker;
  }

  /** Start a worker, approve its join request and wait until it is online. */
  async addApprovedWorker(nodeId: string, options: Parameters<TestFleet["startWorker"]>[1] = {}): Promise<Worker> {
    const worker = await this.startWorker(nodeId, options);
    const request = await waitFor(`join request of ${nodeId}`, async () => (await this.client.pending()).find((r) => r.node_id === nodeId));
    await this.client.approve(request.request_id);
    await waitFor(`${nodeId} approved and online`, async () => worker.state === "approved" && (await this.client.node(nodeId)).status === "online");
    return worker;
  }

  async stopWorker(nodeId: string): Promise<void> {
    await this.workers.get(nodeId)?.stop();
    this.workers.delete(nodeId);
  }

  async close(): Promise<void> {
    for (const worker of this.workers.values()) await worker.stop().catch(() => undefined);
    this.workers.clear();
    await this.coordinator?.stop().catch(() => undefined);
    await this.nats?.stop().catch(() => undefined);
    this.cleanupDir();
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real `ocf` CLI (source through tsx) and collect its output. */
export function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawnCli(args, options.env, options.cwd);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`ocf ${args.join(" ")} did not finish in time; stdout=${stdout} stderr=${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd: string = REPO_ROOT): ChildProcess {
  // `--import tsx` is resolved from the working folder: elsewhere than the repository, name the loader itself.
  const loader = cwd === REPO_ROOT ? "tsx" : import.meta.resolve("tsx");
  return spawn(process.execPath, ["--import", loader, join(REPO_ROOT, "src", "cli", "main.ts"), ...args], {
    cwd,
    env: { ...process.env, OCF_LOG_CONSOLE: "none", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

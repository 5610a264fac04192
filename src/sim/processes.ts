/**
 * The second simulator mode (`ocf sim --processes N`): N full worker processes, each the real
 * `ocf worker` with its own state directory, key, NATS connection and permissions, running real
 * commands. Capped at 200; used to check that the multiplexed simulator's figures hold.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeFlagsFor } from "../launch/node-flags.js";
import type { Labels } from "../protocol/messages.js";

import { MAX_WORKER_PROCESSES } from "./defaults.js";

export { MAX_WORKER_PROCESSES };

/**
 * How to start this build's CLI as a worker, as bin/ocf does: the bundled CLI (dist/ocf/main.js)
 * when built, else tsc's dist/cli/main.js, else the TypeScript source through tsx.
 */
export function cliEntry(): string[] {
  const flags = nodeFlagsFor("worker");
  if (import.meta.url.endsWith(".ts")) return [...flags, "--import", "tsx", fileURLToPath(new URL("../cli/main.ts", import.meta.url))];
  // From dist/sim/ or from a chunk of dist/ocf/, both one level below dist/.
  const bundled = fileURLToPath(new URL("../ocf/main.js", import.meta.url));
  return [...flags, existsSync(bundled) ? bundled : fileURLToPath(new URL("../cli/main.js", import.meta.url))];
}

export interface WorkerProcessesOptions {
  count: number;
  prefix: string;
  /** Each worker's state and logs go under `<baseDir>/<node id>/`. */
  baseDir: string;
  natsUrl: string;
  coordinatorUrl: string;
  heartbeatSeconds: number;
  labels: Labels;
  /** Extra environment for every worker (config overrides as OCF_SECTION_KEY). */
  env?: NodeJS.ProcessEnv;
}

export class WorkerProcesses {
  readonly ids: string[];
  private readonly children = new Map<string, ChildProcess>();
  private readonly exits: string[] = [];

  constructor(private readonly options: WorkerProcessesOptions) {
    if (!Number.isInteger(options.count) || options.count < 1 || options.count > MAX_WORKER_PROCESSES) {
      throw new Error(`--processes must be a whole number from 1 to ${MAX_WORKER_PROCESSES} (got ${options.count})`);
    }
    this.ids = Array.from({ length: options.count }, (_, i) => `${options.prefix}-${i}`);
  }

  /** Start every worker, `concurrency` at a time (a Node process start is CPU-bound). */
  async start(concurrency = 8): Promise<void> {
    for (let at = 0; at < this.ids.length; at += concurrency) {
      await Promise.all(this.ids.slice(at, at + concurrency).map((id) => this.spawnOne(id)));
    }
  }

  pids(): number[] {
    return [...this.children.values()].map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Workers that exited on their own, with how. */
  failures(): string[] {
    return [...this.exits];
  }

  private spawnOne(id: string): Promise<void> {
    const dir = join(this.options.baseDir, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const labels = Object.entries(this.options.labels).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
    const child = spawn(process.execPath, [...cliEntry(), "worker", "--node-id", id, "--state-dir", join(dir, "state"), "--nats-url", this.options.natsUrl, ...labels], {
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        ...this.options.env,
        OCF_COMMUNICATION_COORDINATOR_URL: this.options.coordinatorUrl,
        OCF_WORKER_HEARTBEAT_INTERVAL: String(this.options.heartbeatSeconds),
        OCF_LOG_DIR: join(dir, "logs"),
      },
    });
    this.children.set(id, child);
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.once("exit", (code, signal) => {
      if (this.children.get(id) === child) {
        this.children.delete(id);
        this.exits.push(`${id} exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim().split("\n").at(-1)}` : ""}`);
      }
    });
    return new Promise((resolve, reject) => {
      child.once("spawn", () => resolve());
      child.once("error", (error) => reject(new Error(`could not start worker ${id}: ${error.message}`)));
    });
  }

  /** SIGTERM every worker, SIGKILL those still alive after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const alive = [...this.children.values()];
    this.children.clear();
    await Promise.all(alive.map((child) => stopChild(child, "SIGTERM", graceMs)));
  }
}

/** Signal a child and wait for it to exit; SIGKILL after `graceMs` while it is still unreaped (so its pid cannot have been reused). */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }, graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

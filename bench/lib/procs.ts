/**
 * A local fleet of separate processes for honest resource figures: nats-server (operator mode, as
 * `ocf up` runs it), the built coordinator (`node dist/cli/main.js coordinator`), built workers and
 * `ocf sim` simulators, each its own process whose CPU and RSS are read from /proc. The benchmark
 * process itself only sends requests and measures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FleetClient } from "../../src/client/client.js";
import { stopChild } from "../../src/sim/processes.js";

export { stopChild };
import { freePort } from "../../src/util/net.js";
import { REPO_ROOT, TestFleet, waitFor, type ConfigOverrides } from "../../test/helpers/fleet.js";

export const CLI_MAIN = join(REPO_ROOT, "dist", "cli", "main.js");
/** The CLI as users run it (bin/ocf picks the Node runtime and the worker's memory flags). */
export const OCF_BIN = join(REPO_ROOT, "bin", "ocf");

export function requireBuild(): void {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: run npm run build first (npm run bench does)`);
}

/** Collect a child's output (bounded) for error messages. */
function tail(child: ChildProcess): () => string {
  let out = "";
  const add = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => out.trim();
}

export interface SimReady {
  ready: true;
  nodes: number;
  online_after_ms: number;
  pid: number;
  /** Worker process ids (--processes mode). */
  pids?: number[];
}

export class ProcFleet {
  readonly fleet: TestFleet;
  coordinator?: ChildProcess;
  url = "";
  client!: FleetClient;
  private readonly children: ChildProcess[] = [];

  constructor(overrides: ConfigOverrides) {
    this.fleet = new TestFleet(overrides);
  }

  get dir(): string {
    return this.fleet.dir;
  }

  /** Environment for CLI children: where the coordinator is and its admin token. */
  cliEnv(): NodeJS.ProcessEnv {
    return { ...process.env, OCF_URL: this.url, OCF_TOKEN: this.fleet.token, OCF_LOG_CONSOLE: "none" };
  }

  spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn(OCF_BIN, args, { cwd: this.dir, env: { ...this.cliEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.children.push(child);
    return child;
  }

  async start(): Promise<void> {
    requireBuild();
    await this.fleet.startNats();
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.fleet.configFile("coordinator", { coordinator: { port } });
    await this.startCoordinator();
  }

  /** Stop the coordinator (SIGTERM, as a service manager does) and start it again on the same state. */
  async restartCoordinator(): Promise<void> {
    if (this.coordinator) await stopChild(this.coordinator);
    await this.startCoordinator();
  }

  private async startCoordinator(): Promise<void> {
    const child = this.spawnCli(["coordinator", "-c", join(this.dir, "coordinator.yaml")]);
    const output = tail(child);
    this.coordinator = child;
    await waitFor(
      "coordinator connected to NATS",
      async () => {
        if (child.exitCode !== null) throw new Error(`the coordinator exited with ${child.exitCode}: ${output()}`);
        try {
          return ((await (await fetch(`${this.url}/health`)).json()) as { nats?: { connected?: boolean } }).nats?.connected === true;
        } catch {
          return false;
        }
      },
      60_000,
      100,
    );
    this.fleet.token = readFileSync(join(this.dir, "coordinator", "admin.token"), "utf8").trim();
    this.client = new FleetClient({ url: this.url, token: this.fleet.token, timeoutMs: 60_000 });
  }

  /** A built worker process, approved (auto_approve) and online. */
  async startWorker(nodeId: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
    const file = this.fleet.configFile(`worker-${nodeId}`, { communication: { coordinator_url: this.url }, log: { dir: join(this.dir, "logs", nodeId) } });
    const child = this.spawnCli(["worker", "-c", file, "--node-id", nodeId, "--state-dir", join(this.dir, "workers", nodeId)], env);
    const output = tail(child);
    await waitFor(
      `${nodeId} online`,
      async () => {
        if (child.exitCode !== null) throw new Error(`worker ${nodeId} exited with ${child.exitCode}: ${output()}`);
        return (await this.client.nodes()).some((node) => node.id === nodeId && node.status === "online");
      },
      60_000,
      100,
    );
    return child;
  }

  /** `ocf sim ... --json --keep` until it reports ready; returns the process and its ready line. */
  async startSim(args: string[], timeoutMs: number): Promise<{ child: ChildProcess; ready: SimReady }> {
    const file = this.fleet.configFile("sim", {});
    const child = this.spawnCli(["sim", "-c", file, "--json", "--keep", ...args]);
    const output = tail(child);
    let buffer = "";
    const ready = await new Promise<SimReady>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ocf sim ${args.join(" ")} not ready in ${timeoutMs / 1000} s: ${output()}`)), timeoutMs);
      child.stdout?.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        for (const line of buffer.split("\n").slice(0, -1)) {
          try {
            const parsed = JSON.parse(line) as Partial<SimReady>;
            if (parsed.ready) {
              clearTimeout(timer);
              resolve(parsed as SimReady);
            }
          } catch {
            // not a JSON line
          }
        }
        buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`ocf sim ${args.join(" ")} exited with ${code}: ${output()}`));
      });
    });
    return { child, ready };
  }

  /** A counter or gauge from the coordinator's /metrics (sum over label sets). */
  async metric(name: string): Promise<number> {
    const text = await this.client.metrics();
    let sum = 0;
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  }

  async close(): Promise<void> {
    for (const child of this.children.reverse()) await stopChild(child);
    this.children.length = 0;
    await this.fleet.close();
  }
}

/**
 * The real OpenClaw for end-to-end tests: installed once from npm into a cache folder with the
 * project's Node (>= 22; OpenClaw needs 24), then a gateway on loopback with channels, discovery,
 * updates and telemetry off, in a temp state dir of its own. Written for this project from the
 * facts in ../shared/openclaw-notes.md.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { freePort, tcpReachable } from "../../src/util/net.js";

export const OPENCLAW_VERSION = "2026.9.6";

export function openclawCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.OCF_OPENCLAW_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "ocf", `openclaw-${OPENCLAW_VERSION}`);
}

/** PATH with this process's Node first (OpenClaw and npm run with it). */
function pathWithNode(): string {
  return `${dirname(process.execPath)}:${process.env.PATH ?? ""}`;
}

/** The openclaw CLI, installing it into the cache when missing; or why it cannot be had. */
export function ensureOpenClaw(log: (line: string) => void = () => undefined): { bin: string } | { skip: string } {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) return { skip: `Node ${process.versions.node} is too old for OpenClaw (needs 24; run the tests with .runtime Node)` };
  const dir = openclawCacheDir();
  const bin = join(dir, "node_modules", ".bin", "openclaw");
  const pkg = join(dir, "node_modules", "openclaw", "package.json");
  if (existsSync(bin) && existsSync(pkg)) {
    const check = spawnSync(bin, ["--version"], { encoding: "utf8", env: { ...process.env, PATH: pathWithNode() }, timeout: 60_000 });
    if (check.status === 0 && check.stdout.includes(OPENCLAW_VERSION)) return { bin };
  }
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, "package.json"))) writeFileSync(join(dir, "package.json"), '{ "name": "ocf-openclaw-cache", "private": true }\n');
  log(`installing openclaw@${OPENCLAW_VERSION} into ${dir} (first run only, about a minute)`);
  const npm = join(dirname(process.execPath), "npm");
  const install = spawnSync(existsSync(npm) ? npm : "npm", ["install", `openclaw@${OPENCLAW_VERSION}`, "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, PATH: pathWithNode() },
    timeout: 6 * 60_000,
  });
  if (install.status !== 0 || !existsSync(bin)) {
    return { skip: `could not install openclaw@${OPENCLAW_VERSION}: ${(install.stderr || install.stdout || String(install.error ?? "")).trim().slice(-500)}` };
  }
  return { bin };
}

export interface AgentReply {
  text: string;
  toolCalls: number;
  toolFailures: number;
  raw: unknown;
}

interface AgentBody {
  payloads?: Array<{ text?: string }>;
  meta?: { toolSummary?: { calls?: number; failures?: number } };
}

export const OPENCLAW_LOCK_DIR = `/tmp/openclaw-state-locks-${process.getuid?.() ?? 0}`;
const LOCK_DIR = OPENCLAW_LOCK_DIR;

/**
 * The lock files OpenClaw made in OPENCLAW_LOCK_DIR for the state databases under `dir`: it names
 * them `<family>.<hash>.lock.sqlite`, the hash being the first 8 hex digits of the sha256 of the
 * database's real path. Other runs' locks (a test running alongside) are left alone.
 */
export function openclawLockFilesFor(dir: string): string[] {
  if (!existsSync(LOCK_DIR) || !existsSync(dir)) return [];
  const hashes = new Set<string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".sqlite")) continue;
    let real: string;
    try {
      real = realpathSync(join(entry.parentPath, entry.name));
    } catch {
      continue;
    }
    hashes.add(createHash("sha256").update(real).digest("hex").slice(0, 8));
  }
  return readdirSync(LOCK_DIR)
    .filter((file) => hashes.has(/\.([0-9a-f]{8})\.lock\.sqlite$/.exec(file)?.[1] ?? ""))
    .map((file) => join(LOCK_DIR, file));
}

/** A real OpenClaw gateway in its own temp state dir. */
export class OpenClawGateway {
  readonly token = `gw-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  port = 0;
  private process?: ChildProcess;
  private output = "";
  private readonly locksBefore: Set<string>;

  constructor(
    readonly bin: string,
    readonly dir: string,
  ) {
    mkdirSync(join(dir, "home"), { recursive: true });
    mkdirSync(join(dir, "state"), { recursive: true });
    this.locksBefore = new Set(existsSync(LOCK_DIR) ? readdirSync(LOCK_DIR) : []);
  }

  get configPath(): string {
    return join(this.dir, "state", "openclaw.json");
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return {
      PATH: pathWithNode(),
      HOME: join(this.dir, "home"),
      LANG: "C.UTF-8",
      OPENCLAW_STATE_DIR: join(this.dir, "state"),
      OPENCLAW_CONFIG_PATH: this.configPath,
      OPENCLAW_GATEWAY_TOKEN: this.token,
      OPENCLAW_SKIP_CHANNELS: "1",
      OPENCLAW_DISABLE_BONJOUR: "1",
      OPENCLAW_NO_AUTO_UPDATE: "1",
      OPENCLAW_OFFLINE: "1",
      ...extra,
    };
  }

  /** Write openclaw.json: gateway on loopback, the fake model as the only model, quiet. */
  async writeConfig(modelBaseUrl: string, extra: Record<string, unknown> = {}): Promise<void> {
    this.port = await freePort();
    const config = {
      gateway: { mode: "local", port: this.port, bind: "loopback", auth: { mode: "token", token: this.token } },
      update: { checkOnStart: false, auto: { enabled: false } },
      telemetry: { enabled: false },
      models: {
        catalogRefresh: { enabled: false },
        providers: {
          fake: { baseUrl: modelBaseUrl, apiKey: "test-key", api: "openai-completions", models: [{ id: "fleet-test", name: "Fleet test model", contextWindow: 200_000, maxTokens: 4096, input: ["text"] }] },
        },
      },
      agents: { defaults: { model: { primary: "fake/fleet-test" } } },
      tools: { toolSearch: false },
      ...extra,
    };
    writeFileSync(this.configPath, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  }

  /** Run an openclaw CLI command to completion. */
  run(args: string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): { code: number | null; stdout: string; stderr: string } {
    const result = spawnSync(this.bin, args, { encoding: "utf8", input: options.input, env: this.env(options.env), timeout: options.timeoutMs ?? 120_000, cwd: this.dir });
    return { code: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
  }

  /** Start `openclaw gateway run` and wait until its port answers. */
  async start(timeoutMs = 90_000): Promise<void> {
    const child = spawn(this.bin, ["gateway", "run"], { env: this.env(), cwd: this.dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.process = child;
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`openclaw gateway exited with ${child.exitCode}:\n${this.output.slice(-3000)}`);
      if (await tcpReachable("127.0.0.1", this.port, 300)) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`openclaw gateway not listening on ${this.port} after ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
  }

  get log(): string {
    return this.output;
  }

  /** Pid of the running `openclaw gateway run` process, if any. */
  get pid(): number | undefined {
    const child = this.process;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /**
   * One agent turn through the gateway: `openclaw agent --agent main --message ... --json`.
   * Asynchronous on purpose: the fleet under test may live in this very process.
   */
  async agent(message: string, timeoutMs = 180_000): Promise<AgentReply> {
    const child = spawn(this.bin, ["agent", "--agent", "main", "--message", message, "--json"], { env: this.env(), cwd: this.dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    const start = stdout.indexOf("{");
    if (code !== 0 || start < 0) {
      throw new Error(`openclaw agent failed (code ${code}):\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
    }
    const raw = JSON.parse(stdout.slice(start)) as { result?: AgentBody } & AgentBody;
    const body: AgentBody = raw.result ?? raw;
    const text = (body.payloads ?? []).map((payload) => payload.text ?? "").join("\n");
    return { text, toolCalls: body.meta?.toolSummary?.calls ?? 0, toolFailures: body.meta?.toolSummary?.failures ?? 0, raw };
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null && child.pid) {
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        child.kill("SIGTERM");
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-(child.pid as number), "SIGKILL");
        } catch {
          // already gone
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    // OpenClaw leaves lock files in /tmp whatever TMPDIR says: remove the ones this run made
    // (new since the constructor and named after a database in this dir, so a run alongside keeps its own).
    for (const path of openclawLockFilesFor(this.dir)) {
      if (!this.locksBefore.has(path.slice(LOCK_DIR.length + 1))) rmSync(path, { force: true });
    }
  }
}

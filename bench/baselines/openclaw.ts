/**
 * Baseline: OpenClaw's own node path on loopback, for comparison with the fleet's exec.
 *
 * The real openclaw@2026.9.6 (installed into the cache by test/helpers/openclaw.ts): a gateway on
 * 127.0.0.1 and a headless node host (`openclaw node run`) with its own state dir, connected to it
 * and approved the way an operator does it (`openclaw nodes pending --json`, then
 * `openclaw nodes approve <requestId>`; the device pairing of a loopback node is approved by the
 * gateway on its own). Then:
 *  - `openclaw-invoke-cli`: wall time of the whole CLI process
 *    `openclaw gateway call node.invoke --json --params {system.run ["true"]}`
 *    (`openclaw nodes invoke` refuses system.run in this release);
 *  - `openclaw-invoke-ws`: the same node.invoke over one WebSocket held by this process;
 *  - idle RSS and CPU of the node host's process tree (and the gateway's RSS).
 * Written for this project from the facts in /work/shared/openclaw-notes.md and OpenClaw's docs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureOpenClaw, OPENCLAW_LOCK_DIR, OpenClawGateway } from "../../test/helpers/openclaw.js";
import { descendants, measureProcess, summarize, type BenchRow, type SectionOptions, type SectionResult } from "../lib/stats.js";

const NODE_NAME = "ocf-bench-node";
const MARKER = "ocf-bench-marker";
/** An address nothing answers on: the gateway needs a model configured, the bench never calls it. */
const NO_MODEL_URL = "http://127.0.0.1:9/v1";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 1500);
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run the openclaw CLI against the gateway, asynchronously, killed after `timeoutMs`. */
function runCli(gateway: OpenClawGateway, args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(gateway.bin, args, { env: gateway.env(), cwd: gateway.dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      child.kill("SIGKILL");
    }, timeoutMs);
    const finish = (code: number | null): void => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    };
    child.once("error", (error) => {
      stderr += String(error);
      finish(null);
    });
    child.once("close", (code) => finish(code));
  });
}

/** The JSON document a `--json` CLI command printed (skipping anything before it). */
function parseJsonOutput(stdout: string): unknown {
  const start = stdout.search(/[[{]/);
  if (start < 0) throw new Error(`no JSON in output: ${stdout.slice(0, 300)}`);
  return JSON.parse(stdout.slice(start)) as unknown;
}

/** The stdout of a successful system.run from a node.invoke result; throws on anything else. */
function systemRunStdout(result: unknown): string {
  const payload = isRecord(result) ? result.payload : undefined;
  if (!isRecord(result) || result.ok !== true || !isRecord(payload) || payload.success !== true || payload.exitCode !== 0) {
    throw new Error(`system.run did not succeed: ${JSON.stringify(result).slice(0, 500)}`);
  }
  return typeof payload.stdout === "string" ? payload.stdout : "";
}

function invokeParams(nodeId: string, argv: string[]): Record<string, unknown> {
  return { nodeId, command: "system.run", params: { command: argv }, idempotencyKey: randomUUID(), timeoutMs: 15_000 };
}

/** One `openclaw gateway call node.invoke` process; its wall time, or an error when the command did not run. */
async function invokeViaCli(gateway: OpenClawGateway, nodeId: string, argv: string[]): Promise<{ ms: number; stdout: string }> {
  const result = await runCli(gateway, ["gateway", "call", "node.invoke", "--json", "--timeout", "30000", "--params", JSON.stringify(invokeParams(nodeId, argv))]);
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${(result.stderr || result.stdout).trim().slice(-500)}`);
  return { ms: result.ms, stdout: systemRunStdout(parseJsonOutput(result.stdout)) };
}

/** `openclaw node run` in its own state dir (as on another machine), in a process group of its own. */
class NodeHost {
  readonly child: ChildProcess;
  private output = "";

  constructor(gateway: OpenClawGateway, dir: string) {
    const state = join(dir, "state");
    mkdirSync(join(dir, "home"), { recursive: true });
    mkdirSync(state, { recursive: true });
    const config = {
      update: { checkOnStart: false, auto: { enabled: false } },
      telemetry: { enabled: false },
      logging: { file: join(dir, "openclaw-node.log") },
      nodeHost: { autoUpdate: { enabled: false } },
    };
    writeFileSync(join(state, "openclaw.json"), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    const env = gateway.env({ HOME: join(dir, "home"), OPENCLAW_STATE_DIR: state, OPENCLAW_CONFIG_PATH: join(state, "openclaw.json") });
    this.child = spawn(gateway.bin, ["node", "run", "--host", "127.0.0.1", "--port", String(gateway.port), "--display-name", NODE_NAME], {
      env,
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.child.once("error", (error) => keep(Buffer.from(`\nspawn error: ${String(error)}\n`)));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  /** Its process and every descendant (the CLI re-execs itself as `openclaw-node`). */
  pids(): number[] {
    const pid = this.child.pid;
    return pid === undefined || !this.alive ? [] : [pid, ...descendants(pid)];
  }

  async stop(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined || !this.alive) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    const signal = (name: NodeJS.Signals): void => {
      try {
        process.kill(-pid, name);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    if (await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) return;
    signal("SIGKILL");
    await Promise.race([exited, sleep(5_000)]);
  }
}

/**
 * A minimal Gateway WebSocket client (protocol 4): answers the connect challenge as a trusted
 * local backend client (`gateway-client` / `backend`, shared token, loopback, no device identity),
 * then sends `{type:"req"}` frames and matches `{type:"res"}` frames by id.
 */
class GatewaySocket {
  private readonly socket: WebSocket;
  private readonly pending = new Map<string, { resolve: (payload: unknown) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private closedWith?: string;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener("message", (event) => this.onMessage(event.data));
    socket.addEventListener("close", (event) => {
      this.closedWith = `closed (${event.code} ${event.reason})`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(`gateway socket ${this.closedWith}`));
      this.pending.clear();
    });
  }

  static async connect(port: number, token: string, timeoutMs = 15_000): Promise<GatewaySocket> {
    const socket = new WebSocket(`ws://127.0.0.1:${port}`);
    const client = new GatewaySocket(socket);
    const challenge = new Promise<void>((resolve, reject) => {
      socket.addEventListener("message", function onChallenge(event) {
        const frame = typeof event.data === "string" ? (JSON.parse(event.data) as unknown) : undefined;
        if (isRecord(frame) && frame.type === "event" && frame.event === "connect.challenge") {
          socket.removeEventListener("message", onChallenge);
          resolve();
        }
      });
      socket.addEventListener("error", () => reject(new Error(`cannot open ws://127.0.0.1:${port}`)));
      socket.addEventListener("close", (event) => reject(new Error(`gateway socket closed before the challenge (${event.code} ${event.reason})`)));
    });
    try {
      await withTimeout(challenge, timeoutMs, "gateway connect.challenge");
      await client.call(
        "connect",
        {
          minProtocol: 4,
          maxProtocol: 4,
          client: { id: "gateway-client", version: "0.1.0", platform: process.platform, mode: "backend" },
          role: "operator",
          scopes: ["operator.admin", "operator.read", "operator.write"],
          caps: [],
          commands: [],
          permissions: {},
          auth: { token },
          locale: "en-US",
          userAgent: "ocf-bench/0.1",
        },
        timeoutMs,
      );
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  call(method: string, params: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
    if (this.closedWith) return Promise.reject(new Error(`gateway socket ${this.closedWith}`));
    const id = `ocf-${(this.nextId += 1)}`;
    const reply = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.socket.send(JSON.stringify({ type: "req", id, method, params }));
    return withTimeout(reply, timeoutMs, method).finally(() => this.pending.delete(id));
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private onMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let frame: unknown;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!isRecord(frame) || frame.type !== "res" || typeof frame.id !== "string") return;
    const waiter = this.pending.get(frame.id);
    if (!waiter) return;
    this.pending.delete(frame.id);
    if (frame.ok === true) waiter.resolve(frame.payload);
    else waiter.reject(new Error(`gateway error: ${JSON.stringify(frame.error).slice(0, 500)}`));
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** measureProcess over a process tree, once more if one of its processes went away meanwhile. */
async function measureTree(pids: number[], ms: number): Promise<{ cpuPercent: number; rssMb: number }> {
  try {
    return await measureProcess(pids, ms);
  } catch {
    const alive = pids.filter((pid) => existsSync(`/proc/${pid}`));
    return measureProcess(alive, ms);
  }
}

/** Poll `openclaw nodes pending --json` until our node's command-surface request shows up. */
async function pendingRequest(gateway: OpenClawGateway, node: NodeHost, timeoutMs: number): Promise<{ requestId: string; nodeId: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (!node.alive) throw new Error(`openclaw node run exited with ${node.child.exitCode ?? node.child.signalCode}:\n${node.log.slice(-2000)}`);
    const result = await runCli(gateway, ["nodes", "pending", "--json"], 30_000);
    last = (result.stdout || result.stderr).trim().slice(-500);
    if (result.code === 0) {
      const list = parseJsonOutput(result.stdout);
      const entry = (Array.isArray(list) ? list : []).find((item): item is Record<string, unknown> => isRecord(item) && item.displayName === NODE_NAME);
      if (entry && typeof entry.requestId === "string" && typeof entry.nodeId === "string") return { requestId: entry.requestId, nodeId: entry.nodeId };
    }
    await sleep(1000);
  }
  throw new Error(`no pending request from ${NODE_NAME} within ${timeoutMs} ms (last \`nodes pending\`: ${last}); node log:\n${node.log.slice(-2000)}`);
}

/** OpenClaw's own node path on loopback: CLI and WebSocket node.invoke of system.run, idle node host. */
export async function measureOpenClaw(options: SectionOptions & { runs: number }): Promise<SectionResult> {
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  const log = (line: string): void => options.log(`[openclaw] ${line}`);
  const runs = Math.max(1, Math.floor(options.runs));
  const idleMs = options.quick ? 5_000 : 10_000;

  const found = ensureOpenClaw(log);
  if ("skip" in found) return { rows, skipped: [`openclaw node path: ${found.skip}`] };

  // OpenClaw makes these whatever its config says; remove them afterwards if this run made them and they are empty.
  const sharedDirs = [OPENCLAW_LOCK_DIR, "/tmp/openclaw"].filter((path) => !existsSync(path));
  const dir = mkdtempSync(join(tmpdir(), "ocf-bench-openclaw-"));
  const gateway = new OpenClawGateway(found.bin, join(dir, "gateway"));
  let node: NodeHost | undefined;
  let socket: GatewaySocket | undefined;
  try {
    await gateway.writeConfig(NO_MODEL_URL, {
      logging: { file: join(gateway.dir, "openclaw-gateway.log") },
      // No agent turns behind the bench's back: no heartbeat cadence, no exec-exit wake-ups.
      agents: { defaults: { model: { primary: "fake/fleet-test" }, heartbeat: { every: "0m" } } },
      tools: { toolSearch: false, exec: { notifyOnExit: false } },
    });
    log(`starting gateway on 127.0.0.1:${gateway.port}`);
    let started = performance.now();
    await gateway.start(90_000);
    log(`gateway listening after ${((performance.now() - started) / 1000).toFixed(1)} s; starting \`openclaw node run\``);

    started = performance.now();
    node = new NodeHost(gateway, join(gateway.dir, "node"));
    const request = await pendingRequest(gateway, node, 90_000);
    log(`node ${request.nodeId.slice(0, 12)}… asks for its command surface (request ${request.requestId}); \`openclaw nodes approve\``);
    const approve = await runCli(gateway, ["nodes", "approve", request.requestId, "--json"], 30_000);
    if (approve.code !== 0) throw new Error(`openclaw nodes approve failed (exit ${approve.code}): ${(approve.stderr || approve.stdout).trim().slice(-500)}`);

    // The first call proves the path end to end: the marker must come back from the node.
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const first = await invokeViaCli(gateway, request.nodeId, ["echo", MARKER]);
        if (!first.stdout.includes(MARKER)) throw new Error(`marker missing from stdout ${JSON.stringify(first.stdout)}`);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`node.invoke system.run never succeeded: ${errorText(error)}`, { cause: error });
        await sleep(1000);
      }
    }
    log(`node paired and running commands ${((performance.now() - started) / 1000).toFixed(1)} s after \`node run\`; marker came back`);

    // 1. The whole CLI process per call.
    try {
      const samples: number[] = [];
      let failures = 0;
      let lastError = "";
      await invokeViaCli(gateway, request.nodeId, ["true"]); // warm-up
      for (let i = 0; i < runs && failures < 3; i += 1) {
        try {
          samples.push((await invokeViaCli(gateway, request.nodeId, ["true"])).ms);
        } catch (error) {
          failures += 1;
          lastError = errorText(error);
        }
      }
      if (samples.length < runs / 2) throw new Error(`${failures} call(s) failed, ${samples.length} succeeded; last failure: ${lastError}`);
      const stats = summarize(samples);
      rows.push({
        section: "exec",
        id: "openclaw-invoke-cli",
        name: "OpenClaw: `openclaw gateway call node.invoke` system.run `true` (whole CLI)",
        unit: "ms",
        stats,
        note:
          "real openclaw@2026.9.6, gateway + `openclaw node run` on 127.0.0.1; one CLI process per call " +
          "(`openclaw nodes invoke` refuses system.run in this release)" +
          (failures > 0 ? `; ${failures} failed call(s) not counted (last: ${lastError.replace(/\s+/g, " ").slice(0, 200)})` : ""),
      });
      log(`CLI node.invoke: p50 ${stats.p50.toFixed(0)} ms, p99 ${stats.p99.toFixed(0)} ms over ${stats.n} runs`);
    } catch (error) {
      skipped.push(`openclaw-invoke-cli: ${errorText(error)}`);
    }

    // 2. The same node.invoke from this process over one WebSocket.
    try {
      socket = await GatewaySocket.connect(gateway.port, gateway.token);
      const ws = socket;
      const wsInvoke = async (argv: string[]): Promise<string> => systemRunStdout(await ws.call("node.invoke", invokeParams(request.nodeId, argv)));
      if (!(await wsInvoke(["echo", MARKER])).includes(MARKER)) throw new Error("marker missing from the WebSocket node.invoke");
      await wsInvoke(["true"]); // warm-up
      const samples: number[] = [];
      for (let i = 0; i < runs; i += 1) {
        const t0 = performance.now();
        await wsInvoke(["true"]);
        samples.push(performance.now() - t0);
      }
      const stats = summarize(samples);
      rows.push({
        section: "exec",
        id: "openclaw-invoke-ws",
        name: "OpenClaw: node.invoke system.run `true` over the gateway WebSocket (in process)",
        unit: "ms",
        stats,
        note: "one WebSocket held by the bench (protocol 4, loopback backend client with the gateway token), request/response per call",
      });
      log(`WebSocket node.invoke: p50 ${stats.p50.toFixed(1)} ms, p99 ${stats.p99.toFixed(1)} ms over ${stats.n} runs`);
    } catch (error) {
      skipped.push(`openclaw-invoke-ws: ${errorText(error)}`);
    } finally {
      socket?.close();
      socket = undefined;
    }

    // 3. The node host sitting idle, connected.
    log(`letting the node host idle ${idleMs / 1000} s, then sampling it for ${idleMs / 1000} s`);
    if (!node.alive) throw new Error(`openclaw node run exited:\n${node.log.slice(-500)}`);
    await sleep(idleMs);
    if (!node.alive) throw new Error(`openclaw node run exited while idle:\n${node.log.slice(-500)}`);
    const nodePids = node.pids();
    const gatewayPid = gateway.pid;
    const gatewayPids = gatewayPid === undefined ? [] : [gatewayPid, ...descendants(gatewayPid)];
    const [nodeIdle, gatewayIdle] = await Promise.all([measureTree(nodePids, idleMs), gatewayPids.length > 0 ? measureTree(gatewayPids, idleMs) : Promise.resolve(undefined)]);
    const idleNote = `after ≥${(idleMs * 2) / 1000} s connected and idle`;
    rows.push(
      {
        section: "resources",
        id: "openclaw-node-idle-rss",
        name: "OpenClaw: idle `openclaw node run` RSS (process tree)",
        unit: "MB",
        value: nodeIdle.rssMb,
        note: `sum over ${nodePids.length} processes (the CLI and the \`openclaw-node\` it re-execs), ${idleNote}`,
      },
      {
        section: "resources",
        id: "openclaw-node-idle-cpu",
        name: "OpenClaw: idle `openclaw node run` CPU (% of one core)",
        unit: "%",
        value: nodeIdle.cpuPercent,
        note: `over ${idleMs / 1000} s, ${nodePids.length} processes, connected to the gateway (clock ticks: resolution ${(1000 / idleMs).toFixed(1)} %)`,
      },
    );
    log(`idle node host: ${nodeIdle.rssMb.toFixed(0)} MB RSS, ${nodeIdle.cpuPercent.toFixed(2)} % CPU`);
    if (gatewayIdle) {
      rows.push({
        section: "resources",
        id: "openclaw-gateway-idle-rss",
        name: "OpenClaw: idle gateway RSS (process tree, one node connected)",
        unit: "MB",
        value: gatewayIdle.rssMb,
        note: `sum over ${gatewayPids.length} processes; ${gatewayIdle.cpuPercent.toFixed(2)} % CPU of one core over ${idleMs / 1000} s`,
      });
      log(`idle gateway: ${gatewayIdle.rssMb.toFixed(0)} MB RSS, ${gatewayIdle.cpuPercent.toFixed(2)} % CPU`);
    }
  } catch (error) {
    skipped.push(`openclaw node path: ${errorText(error)}`);
  } finally {
    socket?.close();
    try {
      await node?.stop();
    } catch (error) {
      log(`stopping the node host: ${errorText(error)}`);
    }
    try {
      await gateway.stop(); // also removes the lock files of this run's state databases (gateway's and node's)
    } catch (error) {
      log(`stopping the gateway: ${errorText(error)}`);
    }
    rmSync(dir, { recursive: true, force: true });
    for (const path of sharedDirs) {
      try {
        rmdirSync(path); // fails, as it should, when something else has put files there meanwhile
      } catch {
        // not empty or already gone
      }
    }
  }
  return { rows, skipped };
}

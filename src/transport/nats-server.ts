/**
 * Start a real nats-server as a child process: used by `ocf up` (single machine) and by the test
 * helpers. Writes a small config (port, max payload, JetStream store) into a folder of its own.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort, portIsFree, tcpReachable } from "../util/net.js";

export interface NatsServerOptions {
  /** Folder for the config, pid file and JetStream store. */
  dir: string;
  /** Port to listen on; 0 or undefined picks a free one. */
  port?: number;
  host?: string;
  /** HTTP monitoring port (`-m`), only when given and free. */
  monitorPort?: number;
  jetstream?: boolean;
  maxPayloadBytes?: number;
  /** Where the server's own log goes; undefined discards it. */
  logFile?: string;
  /** Own process group, so a terminal's Ctrl-C does not reach it; the owner stops it last. */
  detached?: boolean;
  /** More config lines (e.g. operator mode from transport/trust.ts). */
  extraConfig?: string[];
}

export interface NatsServerHandle {
  url: string;
  port: number;
  host: string;
  monitorPort: number | undefined;
  process: ChildProcess;
  /** SIGTERM then wait for exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
  /** SIGKILL, no grace. */
  kill(): Promise<void>;
}

const SEARCH_PATH = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin", "/sbin", "/bin"];

/** Full path of the nats-server binary, or undefined. `OCF_NATS_SERVER` overrides. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OCF_NATS_SERVER && existsSync(env.OCF_NATS_SERVER)) return env.OCF_NATS_SERVER;
  const dirs = [...(env.PATH ?? "").split(":").filter(Boolean), ...SEARCH_PATH];
  for (const dir of dirs) {
    const candidate = join(dir, "nats-server");
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The lines of a nats-server config file for these options (port and host already decided). */
export function natsServerConfig(options: NatsServerOptions & { host: string; port: number }): string[] {
  const lines = [
    `host: "${options.host}"`,
    `port: ${options.port}`,
    `max_payload: ${options.maxPayloadBytes ?? 8 * 1024 * 1024}`,
    `pid_file: "${join(options.dir, "nats-server.pid")}"`,
  ];
  if (options.monitorPort !== undefined) lines.push(`http_port: ${options.monitorPort}`);
  if (options.jetstream ?? true) lines.push(`jetstream { store_dir: "${join(options.dir, "jetstream")}" }`);
  if (options.logFile) {
    mkdirSync(dirname(options.logFile), { recursive: true });
    lines.push(`log_file: "${options.logFile}"`);
  }
  lines.push(...(options.extraConfig ?? []));
  return lines;
}

export async function startNatsServer(options: NatsServerOptions): Promise<NatsServerHandle> {
  const binary = findNatsServer();
  if (!binary) {
    throw new Error("nats-server not found: install it (Debian: sudo apt-get install -y nats-server) or set OCF_NATS_SERVER");
  }
  const host = options.host ?? "127.0.0.1";
  const port = options.port && options.port > 0 ? options.port : await freePort(host);
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const monitorPort = options.monitorPort !== undefined && (await portIsFree(options.monitorPort, host)) ? options.monitorPort : undefined;
  const lines = natsServerConfig({ ...options, host, port, monitorPort });
  const configFile = join(options.dir, "nats-server.conf");
  writeFileSync(configFile, `${lines.join("\n")}\n`, { mode: 0o600 });

  const child = spawn(binary, ["-c", configFile], { stdio: ["ignore", "ignore", "pipe"], detached: options.detached ?? false });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));

  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await tcpReachable(host, port, 250)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (child.exitCode !== null || !(await tcpReachable(host, port, 500))) {
    child.kill("SIGKILL");
    throw new Error(`nats-server did not start on ${host}:${port}: ${stderr.trim() || "no output"}`);
  }

  const waitExit = async (signal: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `nats://${host}:${port}`,
    port,
    host,
    monitorPort,
    process: child,
    stop: () => waitExit("SIGTERM", 5000),
    kill: () => waitExit("SIGKILL", 0),
  };
}

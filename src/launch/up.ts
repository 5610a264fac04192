/**
 * `ocf up`: the whole fleet on this machine in the foreground. Starts nats-server when the
 * configured URL is not reachable, then a coordinator and one local worker as child processes
 * (the worker's key is pre-approved: it is local). Prints health and the node list once the
 * worker is online. Ctrl-C (or SIGTERM) stops everything, workers first, nats-server last.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { inheritedFlags, nodeFlagsFor } from "./node-flags.js";
import { FleetClient } from "../client/client.js";
import { discoverEndpoint } from "../client/discover.js";
import type { LoadedConfig } from "../config/load.js";
import { startNatsServer, type NatsServerHandle } from "../transport/nats-server.js";
import { parseNatsUrl, portIsFree, tcpReachable } from "../util/net.js";
import { ensurePrivateDir } from "../util/files.js";
import { loadOrCreateIdentity } from "../worker/identity.js";
import { defaultNodeId, validateNodeId } from "./worker.js";
import { join } from "node:path";
import { TrustStore } from "../transport/trust.js";
import { TRUST_DIR } from "../coordinator/coordinator.js";

export interface UpOptions {
  nodeId?: string | undefined;
  /** Only nats-server (when needed) and the coordinator (`scripts/start_coordinator`). */
  noWorker?: boolean;
  configPath?: string | undefined;
  /** Called with the client once the local worker is online (prints the status); nodeId is undefined with noWorker. */
  onReady: (client: FleetClient, nodeId: string | undefined) => Promise<void>;
  print: (line: string) => void;
}

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "0.0.0.0"]);

function launch(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const script = process.argv[1] as string;
  // Own process group: Ctrl-C reaches only `ocf up`, which then stops the children in order.
  // The IPC channel makes a child stop by itself if `ocf up` dies.
  // Memory flags per role, as bin/ocf sets them (node-flags.ts).
  const role = args[0] === "worker" || args[0] === "coordinator" ? args[0] : undefined;
  const flags = role ? nodeFlagsFor(role) : [];
  return spawn(process.execPath, [...flags, ...inheritedFlags(process.execArgv), script, ...args], { stdio: ["ignore", "inherit", "inherit", "ipc"], env, detached: true });
}

async function waitFor(what: string, check: () => Promise<boolean>, children: ChildProcess[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = children.find((child) => child.exitCode !== null || child.signalCode !== null);
    if (dead) throw new Error(`${what}: a process exited early (code ${dead.exitCode ?? dead.signalCode}); see the messages above and logs/`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${what}: not ready after ${Math.round(timeoutMs / 1000)} s; see logs/coordinator.log and logs/worker.log`);
}

export async function up(loaded: LoadedConfig, options: UpOptions): Promise<number> {
  const { config } = loaded;
  const print = options.print;
  let nats: NatsServerHandle | undefined;
  let natsUrl = config.communication.nats_url;
  const { host, port } = parseNatsUrl(natsUrl);
  if (await tcpReachable(host, port, 1000)) {
    print(`using the NATS server at ${natsUrl}`);
  } else {
    if (!LOCAL_HOSTS.has(host)) print(`NATS at ${natsUrl} is not reachable; starting a local nats-server instead`);
    const stateDir = loaded.resolvePath(config.coordinator.state_dir);
    ensurePrivateDir(stateDir);
    const wanted = (await portIsFree(port)) ? port : 0;
    try {
      // Secure by default: the server trusts only this coordinator's operator keys (created on first use).
      const trust = await TrustStore.open(join(stateDir, TRUST_DIR));
      const extraConfig = await trust.serverConfig(join(stateDir, "nats", "jwt"));
      nats = await startNatsServer({ dir: join(stateDir, "nats"), port: wanted, monitorPort: 8222, jetstream: true, detached: true, logFile: join(loaded.resolvePath(config.log.dir), "nats-server.log"), extraConfig });
    } catch (error) {
      print(`ocf up failed: ${(error as Error).message}`);
      return 1;
    }
    natsUrl = nats.url;
    print(`started nats-server on ${nats.url} in operator mode (per-node credentials)${nats.monitorPort ? `; monitoring: http://127.0.0.1:${nats.monitorPort}` : ""}`);
  }

  const nodeId = validateNodeId(options.nodeId ?? defaultNodeId());
  // The local worker's key is pre-approved: create it now so the coordinator knows it from the start.
  const workerState = loaded.resolvePath(config.worker.state_dir);
  const key = options.noWorker ? undefined : (ensurePrivateDir(workerState), loadOrCreateIdentity(workerState).key);
  const env = { ...process.env, OCF_NATS_URL: natsUrl, OCF_LOG_CONSOLE: process.env.OCF_LOG_CONSOLE ?? "text" };
  const configArgs = options.configPath ? ["--config", options.configPath] : [];

  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    for (const child of [...children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill("SIGTERM");
      await new Promise<void>((resolveExit) => {
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          resolveExit();
        }, 10_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolveExit();
        });
      });
    }
    await nats?.stop();
  };

  try {
    const coordinator = launch(["coordinator", ...configArgs, ...(key ? ["--approve-key", `${nodeId}:${key.getPublicKey()}`] : [])], env);
    children.push(coordinator);
    const endpoint = (): FleetClient => {
      const found = discoverEndpoint(loaded, {});
      return new FleetClient({ url: found.url, token: found.token, timeoutMs: 2000 });
    };
    await waitFor("coordinator", async () => (await endpoint().health()).nats.connected, children, 30_000);

    if (options.noWorker) {
      await options.onReady(endpoint(), undefined);
    } else {
      const worker = launch(["worker", ...configArgs, "--node-id", nodeId], env);
      children.push(worker);
      await waitFor("local worker", async () => (await endpoint().node(nodeId)).status === "online", children, 30_000);
      await options.onReady(endpoint(), nodeId);
    }
  } catch (error) {
    print(`ocf up failed: ${(error as Error).message}`);
    await stopAll();
    return 1;
  }

  return new Promise<number>((resolveCode) => {
    let code = 0;
    const shutdown = (): void => {
      if (stopping) return;
      print("stopping: worker, coordinator, nats-server ...");
      void stopAll().then(() => {
        print("stopped");
        resolveCode(code);
      });
    };
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
    for (const child of children) {
      child.once("exit", (exitCode, signal) => {
        if (stopping) return;
        print(`a fleet process exited unexpectedly (code ${exitCode ?? signal}); stopping the rest`);
        code = 1;
        shutdown();
      });
    }
  });
}

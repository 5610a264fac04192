/** The start verbs: `coordinator`, `worker`, `up`. They only launch; src/launch wires things. */
import type { Command } from "commander";
import { ConfigError } from "../../config/load.js";
import { collect, globals, loadCliConfig, parseLabels, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { nodesTable } from "./nodes.js";
import { natsSummary } from "../format.js";

function parseApproveKey(value: string, previous: Array<{ nodeId: string; publicKey: string }> = []) {
  const [nodeId, publicKey] = value.split(":");
  if (!nodeId || !publicKey) throw new CliError(`--approve-key "${value}" must be NODE_ID:PUBLIC_KEY`, EXIT.usage);
  return [...previous, { nodeId, publicKey }];
}

export function register(program: Command): void {
  program
    .command("coordinator")
    .description("run the coordinator (registry, pairing, liveness, HTTP API) in the foreground")
    .option("--host <host>", "HTTP listen address (coordinator.host)")
    .option("--port <port>", "HTTP port (coordinator.port)", (v) => Number(v))
    .option("--nats-url <url>", "NATS server (communication.nats_url)")
    .option("--state-dir <dir>", "where the admin token lives (coordinator.state_dir)")
    .option("--auto-approve", "approve every join request on arrival (coordinator.auto_approve)")
    .option("--approve-key <nodeId:publicKey>", "approve this node key on arrival (used by ocf up for its local worker)", parseApproveKey, [])
    .action(async (options: { host?: string; port?: number; natsUrl?: string; stateDir?: string; autoApprove?: boolean; approveKey: Array<{ nodeId: string; publicKey: string }> }, command: Command) => {
      const loaded = loadCliConfig(globals(command), {
        "coordinator.host": options.host,
        "coordinator.port": options.port,
        "communication.nats_url": options.natsUrl,
        "coordinator.state_dir": options.stateDir,
        "coordinator.auto_approve": options.autoApprove,
      });
      try {
        const { launchCoordinator } = await import("../../launch/coordinator.js");
        await launchCoordinator(loaded, { preApproved: options.approveKey });
      } catch (error) {
        throw new CliError(`coordinator failed to start: ${(error as Error).message}`, error instanceof ConfigError ? EXIT.usage : EXIT.failure);
      }
      await new Promise(() => undefined);
    });

  program
    .command("worker")
    .description("run a worker (enroll, heartbeat, execute) in the foreground")
    .option("--node-id <id>", "this node's id (default: from the host name), e.g. worker-main")
    .option("--name <name>", "display name (default: the node id)")
    .option("-l, --label <key=value>", "a label for selectors (repeat for several)", collect, [])
    .option("--state-dir <dir>", "identity and state folder (worker.state_dir; hybrid machines use ~/.openclaw-worker)")
    .option("--nats-url <url>", "NATS server (communication.nats_url)")
    .action(async (options: { nodeId?: string; name?: string; label: string[]; stateDir?: string; natsUrl?: string }, command: Command) => {
      const loaded = loadCliConfig(globals(command), { "communication.nats_url": options.natsUrl });
      try {
        const { launchWorker } = await import("../../launch/worker.js");
        await launchWorker(loaded, { nodeId: options.nodeId, name: options.name, labels: parseLabels(options.label), stateDir: options.stateDir });
      } catch (error) {
        throw new CliError(`worker failed to start: ${(error as Error).message}`, EXIT.usage);
      }
      await new Promise(() => undefined);
    });

  program
    .command("up")
    .description("start nats-server (when none is reachable), a coordinator and one local worker, in the foreground; Ctrl-C stops all")
    .option("--node-id <id>", "id of the local worker (default: from the host name)")
    .option("--no-worker", "only nats-server (when none is reachable) and the coordinator (what scripts/start_coordinator runs)")
    .action(async (options: { nodeId?: string; worker: boolean }, command: Command) => {
      const global = globals(command);
      const loaded = loadCliConfig(global);
      const { up } = await import("../../launch/up.js");
      const code = await up(loaded, {
        nodeId: options.nodeId,
        noWorker: !options.worker,
        configPath: global.config,
        print: (line) => console.log(`[ocf up] ${line}`),
        onReady: async (client, nodeId) => {
          const health = await client.health();
          const nodes = await client.nodes();
          if (global.json) {
            printJson({ url: client.url, health, nodes });
            return;
          }
          console.log(`\n=== Fleet is up: coordinator ${client.url}`);
          console.log(`health: ${health.status} (nats ${natsSummary(health)}, db ${health.db.ok ? "ok" : "NOT OK"}, ${health.nodes.online}/${health.nodes.total} nodes online)`);
          console.log(`\n${nodesTable(nodes)}\n`);
          if (nodeId === undefined) console.log(`Workers join with: scripts/start_worker --node-id NAME (communication.nats_url pointing here), or bin/deploy-federation.sh worker <this machine's IP>\nCtrl-C stops the coordinator and nats-server.\n`);
          else console.log(`Try, in another terminal:\n  bin/ocf nodes list\n  bin/ocf exec ${nodeId} "uname -a"\n  bin/ocf broadcast "uptime"\n  bin/ocf dashboard          # a login link to the live web page\n  curl ${client.url}/health\nCtrl-C stops everything.\n`);
        },
      });
      process.exit(code);
    });
}

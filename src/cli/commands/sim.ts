import type { Command } from "commander";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import type { FleetClient } from "../../client/client.js";
import { TRUST_DIR } from "../../coordinator/paths.js";
import { MAX_WORKER_PROCESSES, SIM_DEFAULTS } from "../../sim/defaults.js";
import { clientFor, collect, fromClientError, globals, loadCliConfig, parseDuration, parseLabels } from "../context.js";
import { CliError, EXIT } from "../errors.js";

interface SimOptions {
  nodes?: string;
  processes?: string;
  connections: string;
  prefix: string;
  label: string[];
  heartbeat: string;
  duration?: string;
  keep?: boolean;
  stateDir?: string;
  natsUrl?: string;
}

function wholeNumber(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${flag} must be a whole number from ${min} to ${max} (got "${value}")`, EXIT.usage);
  return n;
}

/** Wait until every id is online in the registry (approving pending requests of ours on the way), or throw after `timeoutMs`. */
async function waitOnline(client: FleetClient, ids: readonly string[], timeoutMs: number, approvePending: boolean, isFailed: () => string | undefined): Promise<void> {
  const wanted = new Set(ids);
  const deadline = Date.now() + timeoutMs;
  let online = 0;
  while (Date.now() < deadline) {
    const failed = isFailed();
    if (failed) throw new CliError(failed, EXIT.failure);
    if (approvePending) {
      for (const request of await client.pending()) if (wanted.has(request.node_id)) await client.approve(request.request_id);
    }
    online = (await client.nodes()).filter((node) => wanted.has(node.id) && node.status === "online").length;
    if (online === wanted.size) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new CliError(`only ${online} of ${wanted.size} simulated nodes came online within ${Math.round(timeoutMs / 1000)} s`, EXIT.failure);
}

export function register(program: Command): void {
  program
    .command("sim")
    .description(
      "simulate a fleet for benchmarks and load tests: --nodes N enrolled protocol peers multiplexed over a few NATS connections (run on the master: it reads the coordinator's trust keys), or --processes N full worker processes (up to 200)",
    )
    .option("-n, --nodes <n>", "simulated nodes sharing --connections NATS connections (1 to 100000)")
    .option("-p, --processes <n>", `full ocf worker processes instead (1 to ${MAX_WORKER_PROCESSES})`)
    .option("-c, --connections <k>", "NATS connections the simulated nodes share", String(SIM_DEFAULTS.connections))
    .option("--prefix <prefix>", "node ids are <prefix>-0, <prefix>-1, ...", SIM_DEFAULTS.prefix)
    .option("-l, --label <key=value>", "a label on every simulated node (repeat for several)", collect, [])
    .option("--heartbeat <duration>", "heartbeat interval of the simulated nodes", "5s")
    .option("-d, --duration <duration>", "stop after this long (default: until Ctrl-C)")
    .option("--keep", "leave the simulated nodes in the registry when stopping (default: remove them)")
    .option("--state-dir <dir>", "the coordinator's state folder, for its trust keys (coordinator.state_dir)")
    .option("--nats-url <url>", "NATS server (communication.nats_url)")
    .addHelpText(
      "after",
      `
The simulated nodes enroll for real (own key, signed join); they are approved by coordinator.auto_approve
or, failing that, by this command through the admin API. They answer exec and broadcast at once with
exit 0 (no process is spawned) and acknowledge and finish durable tasks. Ready is reported on stdout
(with --json as one line {"ready":true,...}); Ctrl-C removes them from the fleet unless --keep.
The coordinator accepts coordinator.enroll_rate_per_minute joins a minute from one address (120 by
default): raise it (e.g. to 100000) before simulating more nodes than that.

Examples:
  ocf sim --nodes 1000                  1,000 nodes over 4 connections until Ctrl-C
  ocf sim --nodes 10000 --duration 5m   a 10,000-node load for five minutes
  ocf sim --processes 50 -l pool=sim    fifty real worker processes`,
    )
    .action(async (options: SimOptions, command: Command) => {
      if ((options.nodes === undefined) === (options.processes === undefined)) throw new CliError("give exactly one of --nodes N or --processes N", EXIT.usage);
      const json = globals(command).json === true;
      const loaded = loadCliConfig(globals(command), { "communication.nats_url": options.natsUrl, "coordinator.state_dir": options.stateDir });
      const client = clientFor(command);
      const coordinatorUrl = client.url;
      const natsUrl = loaded.config.communication.nats_url;
      const labels = parseLabels(options.label);
      const heartbeatMs = parseDuration(options.heartbeat, "--heartbeat");
      const durationMs = options.duration ? parseDuration(options.duration, "--duration") : undefined;
      const { SimFleet } = await import("../../sim/fleet.js");
      const { WorkerProcesses } = await import("../../sim/processes.js");
      const { createLogger } = await import("../../util/logger.js");
      const logger = createLogger({ name: "sim", level: "warn", dir: loaded.resolvePath(loaded.config.log.dir), console: "none" });
      const say = (text: string, data: Record<string, unknown>): void => {
        if (json) console.log(JSON.stringify(data));
        else console.log(text);
      };
      const started = Date.now();
      let ids: string[];
      let stop: () => Promise<void>;
      let report: () => Record<string, unknown>;
      if (options.nodes !== undefined) {
        const fleet = new SimFleet({
          nodes: wholeNumber(options.nodes, "--nodes", 1, 100_000),
          connections: wholeNumber(options.connections, "--connections", 1, 64),
          prefix: options.prefix,
          labels,
          heartbeatIntervalMs: heartbeatMs,
          logger,
        });
        ids = fleet.ids;
        stop = () => fleet.stop();
        report = () => ({ ...fleet.counters });
        let shown = 0;
        await fleet
          .start({
            coordinatorUrl,
            natsUrl,
            trustDir: join(loaded.resolvePath(loaded.config.coordinator.state_dir), TRUST_DIR),
            approve: async (requestId) => {
              await client.approve(requestId);
            },
            onProgress: (n) => {
              if (!json && (n === ids.length || n - shown >= 1000)) {
                shown = n;
                process.stderr.write(`enrolled ${n}/${ids.length}\n`);
              }
            },
          })
          .catch(async (error: unknown) => {
            await fleet.stop();
            const removed = options.keep ? 0 : await removeNodes(client, fleet.enrolled);
            const cleanup = options.keep ? "" : ` (removed the ${removed} node(s) it had enrolled)`;
            throw new CliError(`simulation failed: ${(error as Error).message}${cleanup}`, EXIT.failure);
          });
        await waitOnline(client, ids, 60_000 + ids.length * 10, false, () => undefined).catch(fromClientErrorOr);
      } else {
        const baseDir = mkdtempSync(join(tmpdir(), "ocf-sim-"));
        const workers = new WorkerProcesses({
          count: wholeNumber(options.processes as string, "--processes", 1, MAX_WORKER_PROCESSES),
          prefix: options.prefix,
          baseDir,
          natsUrl,
          coordinatorUrl,
          heartbeatSeconds: heartbeatMs / 1000,
          labels,
        });
        ids = workers.ids;
        stop = async () => {
          await workers.stop();
          rmSync(baseDir, { recursive: true, force: true });
        };
        report = () => ({ pids: workers.pids() });
        try {
          await workers.start();
          await waitOnline(client, ids, 60_000 + ids.length * 1000, true, () => workers.failures()[0]);
        } catch (error) {
          await stop();
          // Workers that did join are removed again (pending requests of the others stay for an admin to see).
          if (!options.keep) await removeNodes(client, ids);
          if (error instanceof CliError) throw error;
          fromClientErrorOr(error);
        }
      }
      const enrollMs = Date.now() - started;
      say(`ready: ${ids.length} simulated node(s) ${ids[0]} … ${ids.at(-1)} online after ${(enrollMs / 1000).toFixed(1)} s; Ctrl-C to stop`, {
        ready: true,
        mode: options.nodes !== undefined ? "multiplexed" : "processes",
        nodes: ids.length,
        first: ids[0],
        last: ids.at(-1),
        online_after_ms: enrollMs,
        pid: process.pid,
        ...report(),
      });
      await new Promise<void>((resolve) => {
        const timer = durationMs !== undefined ? setTimeout(resolve, durationMs) : undefined;
        const onSignal = (): void => {
          if (timer) clearTimeout(timer);
          resolve();
        };
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
      });
      await stop();
      const removed = options.keep ? 0 : await removeNodes(client, ids);
      say(`stopped ${ids.length} simulated node(s)${options.keep ? " (kept in the registry)" : `, removed ${removed} from the fleet`}`, { stopped: true, nodes: ids.length, removed, ...report() });
      process.exitCode = EXIT.ok;
    });
}

/** Remove simulated nodes from the fleet (those already gone are skipped); returns how many were removed. */
async function removeNodes(client: FleetClient, ids: readonly string[]): Promise<number> {
  let removed = 0;
  for (const id of ids) {
    await client.removeNode(id).then(
      () => (removed += 1),
      () => undefined,
    );
  }
  return removed;
}

function fromClientErrorOr(error: unknown): never {
  if (error instanceof CliError) throw error;
  return fromClientError(error);
}

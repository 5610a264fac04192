/** Start a worker from configuration (used by `ocf worker` and `ocf up`). */
import { hostname } from "node:os";
import type { LoadedConfig } from "../config/load.js";
import { isValidNodeId } from "../protocol/subjects.js";
import type { Labels } from "../protocol/messages.js";
import { ensurePrivateDir } from "../util/files.js";
import { Worker } from "../worker/worker.js";
import { onShutdown, processLogger } from "./logging.js";
import { watchConfig } from "./reload.js";

/** A node id from the host name: lowercase, dashes for anything else, at most 63 chars. */
export function defaultNodeId(host: string = hostname()): string {
  const id = host.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
  return isValidNodeId(id) ? id : "worker";
}

export interface LaunchWorkerOptions {
  nodeId?: string | undefined;
  name?: string | undefined;
  labels?: Labels;
  stateDir?: string | undefined;
}

export function validateNodeId(nodeId: string): string {
  if (!isValidNodeId(nodeId)) {
    throw new Error(`--node-id "${nodeId}" is invalid: use 1-63 lowercase letters, digits and dashes, starting with a letter or digit (e.g. worker-main)`);
  }
  return nodeId;
}

export async function launchWorker(loaded: LoadedConfig, options: LaunchWorkerOptions = {}): Promise<Worker> {
  const nodeId = validateNodeId(options.nodeId ?? defaultNodeId());
  const stateDir = loaded.resolvePath(options.stateDir ?? loaded.config.worker.state_dir);
  ensurePrivateDir(stateDir);
  const logger = processLogger(loaded, "worker").child({ node_id: nodeId });
  const worker = new Worker({
    config: loaded.config,
    nodeId,
    ...(options.name ? { name: options.name } : {}),
    labels: options.labels ?? {},
    stateDir,
    workdir: loaded.resolvePath(loaded.config.worker.exec_workdir),
    skillsDir: loaded.resolvePath(loaded.config.worker.skills_dir),
    // worker.file_roots and the places file calls may not touch resolve like every other config path.
    resolvePath: loaded.resolvePath,
    configFile: loaded.file,
    logger,
  });
  // The worker keeps its own copy of the config: a reload changes it in place.
  const watcher = watchConfig({ file: loaded.file, current: loaded, apply: (next, changed) => worker.applyConfig(next, changed), logger });
  onShutdown(async () => {
    watcher.close();
    await worker.stop();
  }, logger);
  await worker.start();
  return worker;
}

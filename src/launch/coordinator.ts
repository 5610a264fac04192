/** Start a coordinator from configuration (used by `ocf coordinator` and `ocf up`). */
import type { LoadedConfig } from "../config/load.js";
import { Coordinator } from "../coordinator/coordinator.js";
import { onShutdown, processLogger } from "./logging.js";

export interface LaunchCoordinatorOptions {
  preApproved?: Array<{ nodeId: string; publicKey: string }>;
}

export async function launchCoordinator(loaded: LoadedConfig, options: LaunchCoordinatorOptions = {}): Promise<Coordinator> {
  const logger = processLogger(loaded, "coordinator");
  const { config } = loaded;
  const coordinator = new Coordinator({
    config,
    dbPath: loaded.resolvePath(config.storage.path),
    stateDir: loaded.resolvePath(config.coordinator.state_dir),
    logger,
    auditLogDir: loaded.resolvePath(config.log.dir),
    preApproved: options.preApproved ?? [],
    onTokenCreated: (token, path) => {
      // Printed once, on the terminal only (never into the log file).
      process.stdout.write(`\nAdmin token (printed once; stored in ${path}, mode 0600):\n  ${token}\n\n`);
    },
  });
  await coordinator.start();
  onShutdown(() => coordinator.stop(), logger);
  return coordinator;
}

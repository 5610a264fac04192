/** Start a coordinator from configuration (used by `ocf coordinator` and `ocf up`). */
import type { LoadedConfig } from "../config/load.js";
import { ConfigError } from "../config/load.js";
import { Coordinator } from "../coordinator/coordinator.js";
import { onShutdown, processLogger } from "./logging.js";
import { watchConfig } from "./reload.js";

export interface LaunchCoordinatorOptions {
  preApproved?: Array<{ nodeId: string; publicKey: string }>;
}

export async function launchCoordinator(loaded: LoadedConfig, options: LaunchCoordinatorOptions = {}): Promise<Coordinator> {
  const logger = processLogger(loaded, "coordinator");
  const { config } = loaded;
  const { tls_cert: cert, tls_key: key } = config.coordinator;
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError("coordinator.tls_cert and coordinator.tls_key go together: set both (HTTPS) or neither (HTTP)");
  }
  const coordinator = new Coordinator({
    config,
    dbPath: loaded.resolvePath(config.storage.path),
    stateDir: loaded.resolvePath(config.coordinator.state_dir),
    logger,
    auditLogDir: loaded.resolvePath(config.log.dir),
    tls: cert && key ? { certPath: loaded.resolvePath(cert), keyPath: loaded.resolvePath(key) } : undefined,
    preApproved: options.preApproved ?? [],
    onTokenCreated: (token, path) => {
      // Printed once, on the terminal only (never into the log file).
      process.stdout.write(`\nAdmin token (printed once; stored in ${path}, mode 0600):\n  ${token}\n\n`);
    },
  });
  await coordinator.start();
  const watcher = watchConfig({ file: loaded.file, current: loaded, apply: (next, changed) => coordinator.applyConfig(next, changed), logger });
  coordinator.configStatus = watcher.status;
  onShutdown(async () => {
    watcher.close();
    await coordinator.stop();
  }, logger);
  return coordinator;
}

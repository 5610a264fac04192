/**
 * `ocf config check [--config PATH]`: load and validate the configuration (file, then OCF_*
 * environment overrides) without starting anything; the error names the key and where it came from.
 */
import type { Command } from "commander";
import { ConfigError, loadConfig } from "../../config/load.js";
import { globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";

export function register(program: Command): void {
  const config = program.command("config").description("inspect the configuration");
  config
    .command("check")
    .description("validate the configuration (config file + OCF_* environment) without starting anything; exit 2 naming the bad key")
    .option("--show", "also print the effective configuration")
    .action((options: { show?: boolean }, command: Command) => {
      const global = globals(command);
      let loaded;
      try {
        loaded = loadConfig({ path: global.config });
      } catch (error) {
        if (error instanceof ConfigError) throw new CliError(`invalid configuration: ${error.message}`, EXIT.usage);
        throw error;
      }
      const source = loaded.file ?? "defaults (no config file)";
      const c = loaded.config;
      // Resolved paths, for scripts (bin/deploy-federation.sh, scripts/start_nats).
      const paths = {
        storage: loaded.resolvePath(c.storage.path),
        log_dir: loaded.resolvePath(c.log.dir),
        coordinator_state_dir: loaded.resolvePath(c.coordinator.state_dir),
        worker_state_dir: loaded.resolvePath(c.worker.state_dir),
        skills_dir: loaded.resolvePath(c.worker.skills_dir),
      };
      if (global.json) printJson({ ok: true, file: loaded.file ?? null, base_dir: loaded.baseDir, paths, ...(options.show ? { config: c } : {}) });
      else {
        console.log(`configuration OK: ${source} (relative paths from ${loaded.baseDir})`);
        if (options.show) console.log(JSON.stringify(loaded.config, null, 2));
      }
    });
}

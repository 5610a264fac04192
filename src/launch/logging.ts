/** Pick the console format: readable text on a terminal (or when asked), JSON lines otherwise. */
import type { LoadedConfig } from "../config/load.js";
import { createLogger, type Logger } from "../util/logger.js";

export function consoleMode(loaded: LoadedConfig, env: NodeJS.ProcessEnv = process.env): "text" | "json" | "none" {
  const forced = env.OCF_LOG_CONSOLE;
  if (forced === "text" || forced === "json" || forced === "none") return forced;
  if (process.stdout.isTTY) return "text";
  return loaded.config.log.format === "text" ? "text" : "json";
}

export function processLogger(loaded: LoadedConfig, name: "coordinator" | "worker"): Logger {
  return createLogger({
    name,
    level: loaded.config.log.level,
    dir: loaded.resolvePath(loaded.config.log.dir),
    console: consoleMode(loaded),
  });
}

/**
 * Stop cleanly on SIGINT/SIGTERM, and when a parent that started us over IPC (`ocf up`) dies.
 * A second signal exits at once.
 */
export function onShutdown(stop: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const handler = (reason: string): void => {
    if (stopping) {
      logger.warn({ reason }, "second stop request: exiting now");
      process.exit(130);
    }
    stopping = true;
    logger.info({ reason }, "stopping");
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: (error as Error).message }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
  if (process.send) process.on("disconnect", () => handler("parent exited"));
}

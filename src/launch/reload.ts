/**
 * Config hot reload: SIGHUP, or a change of the config file, loads it again with the same loader
 * and messages as at start. An invalid file is refused (the old config stays in force); a valid
 * one is handed to `apply`, which takes the keys that can change live and names those that need
 * a restart. The outcome is logged and kept for /health.
 */
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { ConfigError, loadConfig, type LoadedConfig } from "../config/load.js";

export interface ReloadStatus {
  file: string | null;
  loaded_at: string;
  reloads: number;
  /** Keys changed in the file that take effect only after a restart. */
  restart_required: string[];
  last_error: string | null;
}

/** Every `section.key` whose value differs between two configs. */
export function changedKeys(before: Config, after: Config): string[] {
  const changed: string[] = [];
  for (const section of Object.keys(after) as Array<keyof Config>) {
    const a = before[section] as Record<string, unknown>;
    const b = after[section] as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) changed.push(`${section}.${key}`);
    }
  }
  return changed;
}

export function watchConfig(options: {
  file: string | undefined;
  current: LoadedConfig;
  /** Apply what can change live; return the changed keys that need a restart. */
  apply: (next: Config, changed: string[]) => string[];
  logger: Logger;
}): { status: () => ReloadStatus; reload: () => void; close: () => void } {
  const { logger } = options;
  let current = options.current.config;
  const restart = new Set<string>();
  const status: ReloadStatus = { file: options.file ?? null, loaded_at: new Date().toISOString(), reloads: 0, restart_required: [], last_error: null };
  const reload = (): void => {
    let next: LoadedConfig;
    try {
      next = loadConfig({ path: options.file });
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : (error as Error).message;
      status.last_error = message;
      logger.error({ err: message, file: options.file }, "config reload refused: the new file is invalid; the running config stays in force");
      return;
    }
    const changed = changedKeys(current, next.config);
    status.last_error = null;
    if (changed.length === 0) return;
    const needRestart = options.apply(next.config, changed);
    for (const key of needRestart) restart.add(key);
    current = next.config;
    status.reloads += 1;
    status.loaded_at = new Date().toISOString();
    status.restart_required = [...restart].sort();
    const live = changed.filter((key) => !needRestart.includes(key));
    logger.info({ applied: live, restart_required: needRestart, file: options.file }, needRestart.length ? `config reloaded; restart to apply: ${needRestart.join(", ")}` : "config reloaded");
  };
  let timer: NodeJS.Timeout | undefined;
  const soon = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(reload, 200);
  };
  process.on("SIGHUP", reload);
  let watcher: FSWatcher | undefined;
  if (options.file) {
    const name = basename(options.file);
    try {
      // The folder, not the file: editors replace a file by renaming a new one over it.
      watcher = watch(dirname(options.file), (_event, changed) => {
        if (changed === null || changed === name) soon();
      });
      watcher.on("error", (error) => logger.warn({ err: error.message }, "config watch stopped; SIGHUP still reloads"));
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "cannot watch the config file; SIGHUP still reloads");
    }
  }
  return {
    status: () => ({ ...status, restart_required: [...status.restart_required] }),
    reload,
    close: () => {
      process.off("SIGHUP", reload);
      watcher?.close();
      if (timer) clearTimeout(timer);
    },
  };
}

/**
 * Structured JSON logs (pino) to a file such as logs/coordinator.log, plus readable lines on a
 * terminal. Secrets must never be passed to the logger; `redact` covers the usual field names.
 */
import { mkdirSync, openSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import pino, { type Logger, type StreamEntry } from "pino";
import type PinoPretty from "pino-pretty";
import type { LogLevel } from "../config/schema.js";

export type { Logger } from "pino";

export interface LoggerOptions {
  /** Component name, also the file name: `coordinator` → `<dir>/coordinator.log`. */
  name: string;
  level: LogLevel;
  /** Folder for the log file; undefined writes no file. */
  dir?: string | undefined;
  /** `text` prints readable lines on stdout; `json` prints JSON lines; `none` prints nothing. */
  console: "text" | "json" | "none";
  /** Write the file synchronously (the audit trail must not lose lines in a crash). */
  sync?: boolean;
}

export const REDACT_PATHS = ["token", "*.token", "authorization", "*.authorization", "seed", "*.seed", "headers.authorization", "jwt", "*.jwt"];

/**
 * pino-pretty and what it pulls in cost a process ~5 MB; only a terminal needs it, so it is loaded
 * then (services log JSON), synchronously, from the installation's node_modules.
 */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)("pino-pretty") as typeof PinoPretty;
}

export function createLogger(options: LoggerOptions): Logger {
  const streams: StreamEntry[] = [];
  if (options.dir !== undefined) {
    mkdirSync(options.dir, { recursive: true });
    streams.push({
      // Streams take everything; the logger's own level filters (so a reload can change it live).
      level: "trace",
      // Opened here, synchronously: a process that exits right after starting (a port in use) must
      // not trip over a log file that is still being opened ("sonic boom is not ready yet").
      stream: pino.destination({ dest: openSync(join(options.dir, `${options.name}.log`), "a", 0o640), sync: options.sync ?? false }),
    });
  }
  if (options.console === "text") {
    streams.push({
      level: "trace",
      stream: loadPretty()({ colorize: process.stdout.isTTY === true, translateTime: "SYS:HH:MM:ss", ignore: "pid,hostname", sync: true }),
    });
  } else if (options.console === "json") {
    streams.push({ level: "trace", stream: pino.destination({ dest: 1, sync: true }) });
  }
  if (streams.length === 0) return pino({ level: "silent" });
  return pino(
    { name: options.name, level: options.level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, base: { pid: process.pid } },
    pino.multistream(streams),
  );
}

/** The audit trail file's writer: JSON lines shaped like the other logs, buffered until flush(). */
export interface AuditFile {
  append(record: Record<string, unknown>, msg: string): void;
  /** Write the buffered lines with one synchronous write (on disk before the action is answered; no fsync). */
  flush(): void;
}

/** The field names the loggers redact (REDACT_PATHS without their parent paths), censored at any depth. */
const SECRET_KEYS = new Set(REDACT_PATHS.map((path) => path.slice(path.lastIndexOf(".") + 1)));

/**
 * The audit trail file (`<dir>/audit.log`). A broadcast to 10,000 nodes is 10,000 lines: written
 * through pino with a write per line, they cost a quarter of the broadcast. Lines are built here
 * with JSON.stringify (secrets censored as the loggers do) and written once per batch.
 */
export function createAuditFile(dir: string | undefined): AuditFile {
  if (dir === undefined) return { append: () => undefined, flush: () => undefined };
  mkdirSync(dir, { recursive: true });
  const fd = openSync(join(dir, "audit.log"), "a", 0o640);
  const base = { level: 30, pid: process.pid, name: "audit" };
  const censor = (key: string, value: unknown): unknown => (SECRET_KEYS.has(key) ? "[redacted]" : value);
  let pending: string[] = [];
  return {
    append: (record, msg) => {
      pending.push(`${JSON.stringify({ ...base, time: Date.now(), ...record, msg }, censor)}\n`);
    },
    flush: () => {
      if (pending.length === 0) return;
      const text = pending.join("");
      pending = [];
      writeSync(fd, text);
    },
  };
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

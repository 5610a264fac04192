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

/** Lines a LimitedLog writes per key per minute unless told otherwise. */
export const LIMITED_LINES_PER_MINUTE = 10;
/** Keys a LimitedLog tracks at once; past it, windows that ended are forgotten (then all of them). */
const MAX_LIMITED_KEYS = 1000;

type LimitedLevel = "error" | "warn" | "info" | "debug";

/**
 * Log lines a peer can cause at will (an invalid message, a refused join, a wrong token): at most
 * `perMinute` lines a minute per key (a fixed string naming the kind of line), so a flood of
 * 20,000 messages writes a few lines, not megabytes. The first line written after some were left
 * out carries `suppressed_before`, how many. Keys are the caller's, never text a peer chose.
 */
export class LimitedLog {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly perMinute: number = LIMITED_LINES_PER_MINUTE,
    private readonly now: () => number = Date.now,
  ) {}

  error(key: string, fields: Record<string, unknown>, msg: string): boolean {
    return this.write("error", key, fields, msg);
  }

  warn(key: string, fields: Record<string, unknown>, msg: string): boolean {
    return this.write("warn", key, fields, msg);
  }

  info(key: string, fields: Record<string, unknown>, msg: string): boolean {
    return this.write("info", key, fields, msg);
  }

  debug(key: string, fields: Record<string, unknown>, msg: string): boolean {
    return this.write("debug", key, fields, msg);
  }

  /** Write the line unless `key` used up its minute; returns whether it was written. */
  private write(level: LimitedLevel, key: string, fields: Record<string, unknown>, msg: string): boolean {
    // A line the level filters out anyway costs nothing and uses up nothing.
    if (!this.logger.isLevelEnabled(level)) return false;
    const at = this.now();
    let window = this.windows.get(key);
    if (!window || at - window.start >= 60_000) {
      if (!window && this.windows.size >= MAX_LIMITED_KEYS) this.forgetEnded(at);
      window = { start: at, logged: 0, suppressed: window?.suppressed ?? 0 };
      this.windows.set(key, window);
    }
    if (window.logged >= this.perMinute) {
      window.suppressed += 1;
      return false;
    }
    window.logged += 1;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    this.logger[level](suppressed ? { ...fields, suppressed_before: suppressed } : fields, msg);
    return true;
  }

  private forgetEnded(at: number): void {
    for (const [key, window] of this.windows) if (at - window.start >= 60_000 && window.suppressed === 0) this.windows.delete(key);
    if (this.windows.size >= MAX_LIMITED_KEYS) this.windows.clear();
  }
}

const limitedLogs = new WeakMap<Logger, LimitedLog>();

/**
 * The LimitedLog of `logger` (one per logger, so every module writing through the same logger
 * shares the windows of its keys): `limited(log).warn("heartbeat.invalid", fields, msg)`.
 */
export function limited(logger: Logger): LimitedLog {
  let log = limitedLogs.get(logger);
  if (!log) {
    log = new LimitedLog(logger);
    limitedLogs.set(logger, log);
  }
  return log;
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

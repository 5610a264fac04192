/**
 * Load configuration: YAML file → environment overrides → validation.
 * Errors name the key, the bad value and what is allowed, in one message.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml, YAMLParseError } from "yaml";
import type { z } from "zod";
import { ConfigSchema, type Config } from "./schema.js";

/** The folder that holds this installation (two levels above this module in src/ and dist/). */
export const INSTALL_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or undefined when only defaults and the environment were used. */
  file: string | undefined;
  /** Relative paths in the config are resolved against this folder. */
  baseDir: string;
  /** Resolve a path from the config: `~` is the home folder, relative paths use baseDir. */
  resolvePath(path: string): string;
}

export interface LoadOptions {
  /** Explicit file (`--config PATH`); it must exist. */
  path?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (from command-line flags). */
  overrides?: Record<string, unknown>;
}

/** Environment variable names that map onto config keys besides OCF_<SECTION>_<KEY>. */
const ENV_ALIASES: Record<string, string> = {
  OCF_NATS_URL: "communication.nats_url",
  OCF_LOG_LEVEL: "log.level",
  OCF_DB_PATH: "storage.path",
};

type Mutable = Record<string, unknown>;

function isRecord(value: unknown): value is Mutable {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function setPath(target: Mutable, path: string, value: unknown): void {
  const keys = path.split(".");
  let cursor = target;
  for (const key of keys.slice(0, -1)) {
    const next = cursor[key];
    if (!isRecord(next)) cursor[key] = {};
    cursor = cursor[key] as Mutable;
  }
  cursor[keys[keys.length - 1] as string] = value;
}

function getPath(source: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cursor: unknown = source;
  for (const key of path) {
    if (!isRecord(cursor)) return undefined;
    cursor = cursor[String(key)];
  }
  return cursor;
}

interface SchemaNode {
  def?: { type?: string; innerType?: SchemaNode; shape?: Record<string, SchemaNode> };
  shape?: Record<string, SchemaNode>;
}

/** What a key holds by its schema ("boolean", "number", ...), looking through optional and default. */
function schemaKind(key: string): string | undefined {
  let node: SchemaNode | undefined = ConfigSchema as unknown as SchemaNode;
  for (const part of key.split(".")) {
    while (node?.def?.innerType) node = node.def.innerType;
    node = node?.shape?.[part] ?? node?.def?.shape?.[part];
  }
  while (node?.def?.innerType) node = node.def.innerType;
  return node?.def?.type;
}

/** Every leaf key of the schema, as `section.key`. */
function knownKeys(): string[] {
  const keys: string[] = [];
  for (const [section, schema] of Object.entries(ConfigSchema.shape)) {
    const inner = (schema as unknown as { unwrap?: () => { shape?: Record<string, unknown> } }).unwrap?.();
    const shape = inner?.shape ?? (schema as unknown as { def?: { innerType?: { shape?: Record<string, unknown> } } }).def?.innerType?.shape;
    for (const key of Object.keys(shape ?? {})) keys.push(`${section}.${key}`);
  }
  return keys;
}

function envScalar(raw: string, key: string): unknown {
  if (key === "worker.labels") {
    const labels: Record<string, string> = {};
    for (const pair of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new ConfigError(`environment: worker.labels: "${pair}" is not key=value`);
      labels[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return labels;
  }
  if (key === "worker.exec_allowlist" || key === "worker.exec_env" || key === "worker.file_roots") {
    return raw.split(key === "worker.exec_env" ? /[\s,]+/ : /\s*;\s*/).map((s) => s.trim()).filter(Boolean);
  }
  // Coerce by what the key holds, so OCF_WORKER_SKILLS_DIR=123 stays the string "123"; a key
  // without a default (worker.allow_file_writes) is looked up in the schema.
  const fallback = getPath(DEFAULTS, key.split("."));
  const kind = fallback === undefined ? schemaKind(key) : typeof fallback;
  if (kind === "number" && /^-?\d+(\.\d+)?$/.test(raw.trim())) return Number(raw.trim());
  if (kind === "boolean") {
    const word = raw.trim().toLowerCase();
    if (["true", "yes", "on", "1"].includes(word)) return true;
    if (["false", "no", "off", "0"].includes(word)) return false;
  }
  return raw;
}

/** The configuration with every default filled in: tells envScalar what type each key holds. */
const DEFAULTS: unknown = ConfigSchema.parse({});

function describeAllowed(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.expected === "boolean" ? "expected boolean (true or false; in the environment also yes/no, on/off, 1/0)" : `expected ${issue.expected}`;
    case "too_small":
      return `must be ${issue.inclusive === false ? ">" : ">="} ${String(issue.minimum)}`;
    case "too_big":
      return `must be ${issue.inclusive === false ? "<" : "<="} ${String(issue.maximum)}`;
    case "invalid_value":
      return `allowed: ${issue.values.map((x) => JSON.stringify(x)).join(", ")}`;
    default:
      return issue.message;
  }
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.OCF_CONFIG) return env.OCF_CONFIG;
  const candidate = join(INSTALL_ROOT, "config", "config.yaml");
  return existsSync(candidate) ? candidate : undefined;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.path ?? defaultConfigPath(env);
  let raw: Mutable = {};
  if (file !== undefined) {
    if (!existsSync(file)) throw new ConfigError(`config file not found: ${file}`);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      const where = error instanceof YAMLParseError && error.linePos ? ` (line ${error.linePos[0].line})` : "";
      throw new ConfigError(`${file}: not valid YAML${where}: ${(error as Error).message.split("\n")[0]}`);
    }
    if (parsed === null || parsed === undefined) parsed = {};
    if (!isRecord(parsed)) throw new ConfigError(`${file}: the top level must be a mapping of sections (storage, coordinator, ...)`);
    // A section written with nothing under it (`coordinator:`) means "all defaults", not an error.
    for (const [section, value] of Object.entries(parsed)) if (value === null) parsed[section] = {};
    raw = parsed;
  }

  const sources = new Map<string, string>();
  const keys = knownKeys();
  for (const key of keys) {
    const name = `OCF_${key.replace(/\./g, "_").toUpperCase()}`;
    const value = env[name];
    if (value !== undefined && value !== "") {
      setPath(raw, key, envScalar(value, key));
      sources.set(key, `environment ${name}`);
    }
  }
  for (const [name, key] of Object.entries(ENV_ALIASES)) {
    const value = env[name];
    if (value !== undefined && value !== "") {
      setPath(raw, key, envScalar(value, key));
      sources.set(key, `environment ${name}`);
    }
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key, value);
    sources.set(key, "command line");
  }

  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    const origin = (key: string): string => sources.get(key) ?? file ?? "configuration";
    if (issue.code === "unrecognized_keys") {
      const section = issue.path.map(String).join(".");
      const unknown = issue.keys.map((k) => (section ? `${section}.${k}` : k));
      const allowed = section
        ? keys.filter((k) => k.startsWith(`${section}.`)).map((k) => k.slice(section.length + 1))
        : [...new Set(keys.map((k) => k.split(".")[0]))];
      throw new ConfigError(
        `${origin(section)}: unknown key ${unknown.join(", ")}; allowed${section ? ` in ${section}` : ""}: ${allowed.join(", ")}`,
      );
    }
    const key = issue.path.map(String).join(".");
    const value = getPath(raw, issue.path);
    throw new ConfigError(`${origin(key)}: ${key} = ${JSON.stringify(value) ?? "undefined"} is invalid: ${describeAllowed(issue)}`);
  }

  const baseDir =
    file === undefined
      ? INSTALL_ROOT
      : basename(dirname(resolve(file))) === "config"
        ? dirname(dirname(resolve(file)))
        : dirname(resolve(file));
  const resolvePath = (path: string): string => {
    if (path === "~") return homedir();
    if (path.startsWith("~/")) return join(homedir(), path.slice(2));
    return isAbsolute(path) ? path : resolve(baseDir, path);
  };
  return { config: result.data, file: file === undefined ? undefined : resolve(file), baseDir, resolvePath };
}

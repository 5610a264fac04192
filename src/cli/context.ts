/** What every verb needs: config, the coordinator client, output helpers, error mapping. */
import type { Command } from "commander";
import { ClientError, FleetClient } from "../client/client.js";
import { discoverEndpoint } from "../client/discover.js";
import { ConfigError, loadConfig, type LoadedConfig } from "../config/load.js";
import { CliError, EXIT } from "./errors.js";

export interface GlobalOptions {
  config?: string;
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

/** Printed (once) when the token comes from --token, which every user of the machine can read in `ps`. */
export const TOKEN_FLAG_WARNING = "ocf: warning: --token shows the token to every user of this machine (ps, shell history); use OCF_TOKEN=... or --token-file FILE instead";
let warnedAboutToken = false;

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function loadCliConfig(options: GlobalOptions, overrides?: Record<string, unknown>): LoadedConfig {
  try {
    return loadConfig({ path: options.config, overrides });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`invalid configuration: ${error.message}`, EXIT.usage);
    throw error;
  }
}

export function clientFor(command: Command): FleetClient {
  const options = globals(command);
  if (options.token !== undefined && options.tokenFile !== undefined) throw new CliError("give --token or --token-file, not both", EXIT.usage);
  if (options.token !== undefined && !warnedAboutToken) {
    warnedAboutToken = true;
    process.stderr.write(`${TOKEN_FLAG_WARNING}\n`);
  }
  const loaded = loadCliConfig(options);
  let endpoint;
  try {
    endpoint = discoverEndpoint(loaded, { url: options.url, token: options.token, tokenFile: options.tokenFile });
  } catch (error) {
    throw new CliError((error as Error).message, EXIT.unauthorized);
  }
  if (!endpoint.token) {
    throw new CliError(`no admin token: set OCF_TOKEN, pass --token-file FILE, or run on the master where ${endpoint.tokenSource.replace(/^none \(.*no /, "").replace(/\)$/, "")} exists`, EXIT.unauthorized);
  }
  return new FleetClient({ url: endpoint.url, token: endpoint.token });
}

/** Map a client error onto one clear line and an exit code. */
export function fromClientError(error: unknown): never {
  if (error instanceof ClientError) {
    switch (error.code) {
      case "unreachable":
        throw new CliError(error.message, EXIT.unreachable);
      case "unauthorized":
        throw new CliError(`${error.message}: the token was refused (check OCF_TOKEN / --token-file / --token / the admin.token file)`, EXIT.unauthorized);
      case "node_not_found":
      case "not_found": {
        const candidates = error.details?.candidates;
        const known = Array.isArray(candidates) && candidates.length
          ? ` (known: ${candidates.map((c) => (typeof c === "object" && c && "id" in c ? String((c as { id: unknown }).id) : String(c))).join(", ")})`
          : "";
        throw new CliError(`${error.message}${known}`, EXIT.notFound);
      }
      case "ambiguous_node": {
        const candidates = error.details?.candidates;
        const list = Array.isArray(candidates) ? candidates.map((c) => (typeof c === "object" && c && "id" in c ? String((c as { id: unknown }).id) : String(c))).join(", ") : "";
        throw new CliError(`${error.message}${list ? `: ${list}` : ""}`, EXIT.usage);
      }
      case "forbidden":
        throw new CliError(error.message, EXIT.unauthorized);
      case "node_offline":
        throw new CliError(error.message, EXIT.offline);
      case "timeout":
        throw new CliError(error.message, EXIT.timeout);
      case "bad_request":
        throw new CliError(error.message, EXIT.usage);
      default:
        throw new CliError(`${error.code}: ${error.message}`, EXIT.failure);
    }
  }
  throw error;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Parse repeated `--label k=v` values. */
export function parseLabels(values: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const value of values ?? []) {
    for (const pair of value.split(",").map((s) => s.trim()).filter(Boolean)) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new CliError(`--label "${pair}" must be key=value`, EXIT.usage);
      labels[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return labels;
}

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Parse a duration like `30`, `30s`, `500ms`, `2m` into milliseconds. */
export function parseDuration(value: string, flag = "--timeout"): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new CliError(`${flag} "${value}" is not a duration (e.g. 30s, 500ms, 2m)`, EXIT.usage);
  const amount = Number(match[1]);
  const unit = match[2] ?? "s";
  const ms = amount * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000);
  if (ms < 1 || ms > 24 * 3_600_000) throw new CliError(`${flag} must be between 1ms and 24h`, EXIT.usage);
  return Math.round(ms);
}

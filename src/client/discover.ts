/**
 * Where the coordinator is and which token to use: `--url/--token`, then OCF_URL/OCF_TOKEN, then
 * the local coordinator's state dir (coordinator.json written at start, admin.token), then the
 * configured host and port.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { LoadedConfig } from "../config/load.js";
import { readPrivateFile } from "../util/files.js";

export interface Endpoint {
  url: string;
  token: string | undefined;
  /** Where the token came from, for error messages. */
  tokenSource: string;
}

export function discoverEndpoint(loaded: LoadedConfig, flags: { url?: string | undefined; token?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Endpoint {
  const stateDir = loaded.resolvePath(loaded.config.coordinator.state_dir);
  let url = flags.url ?? env.OCF_URL;
  if (!url) {
    const runtime = join(stateDir, "coordinator.json");
    if (existsSync(runtime)) {
      try {
        url = (JSON.parse(readFileSync(runtime, "utf8")) as { url?: string }).url;
      } catch {
        url = undefined;
      }
    }
  }
  if (!url) {
    const { host, port } = loaded.config.coordinator;
    url = `http://${["0.0.0.0", "::", ""].includes(host) ? "127.0.0.1" : host}:${port}`;
  }
  if (flags.token) return { url, token: flags.token, tokenSource: "--token" };
  if (env.OCF_TOKEN) return { url, token: env.OCF_TOKEN, tokenSource: "OCF_TOKEN" };
  const tokenFile = join(stateDir, "admin.token");
  const token = readPrivateFile(tokenFile)?.trim();
  return { url, token, tokenSource: token ? tokenFile : `none (no --token, no OCF_TOKEN, no ${tokenFile})` };
}

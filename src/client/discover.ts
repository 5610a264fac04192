/**
 * Where the coordinator is and which token to use: `--url`, `--token` or `--token-file`, then
 * OCF_URL/OCF_TOKEN, then the local coordinator's state dir (coordinator.json written at start,
 * admin.token), then the configured host and port.
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

/** Read a token from `path`: a private file (no access for group or others), not empty. Throws naming the problem. */
export function readTokenFile(path: string): string {
  let text: string | undefined;
  try {
    text = readPrivateFile(path);
  } catch (error) {
    throw new Error(`--token-file: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new Error(`--token-file ${path} does not exist`);
  const token = text.trim();
  if (!token) throw new Error(`--token-file ${path} is empty`);
  if (/\s/.test(token)) throw new Error(`--token-file ${path} must hold the token alone (one line, no spaces)`);
  return token;
}

export function discoverEndpoint(loaded: LoadedConfig, flags: { url?: string | undefined; token?: string | undefined; tokenFile?: string | undefined }, env: NodeJS.ProcessEnv = process.env): Endpoint {
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
  if (flags.tokenFile) return { url, token: readTokenFile(flags.tokenFile), tokenSource: `--token-file ${flags.tokenFile}` };
  if (env.OCF_TOKEN) return { url, token: env.OCF_TOKEN, tokenSource: "OCF_TOKEN" };
  const tokenFile = join(stateDir, "admin.token");
  const token = readPrivateFile(tokenFile)?.trim();
  return { url, token, tokenSource: token ? tokenFile : `none (no --token, no OCF_TOKEN, no ${tokenFile})` };
}

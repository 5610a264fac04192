/**
 * `ocf openclaw install`: connect a local OpenClaw gateway to the fleet. Creates an exec-scope
 * token for it, installs the plugin (plugins/openclaw) with OpenClaw's own CLI and patches its
 * config (a validated, merging write: other settings are left alone); `--mcp` also registers
 * `ocf mcp` as an MCP server. Re-running replaces the token and revokes the previous one.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { PLUGIN_ID } from "../../bridge/openclaw-plugin.js";
import { INSTALL_ROOT } from "../../config/load.js";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { printable } from "../format.js";

interface InstallOptions {
  openclaw: string;
  plugin: boolean;
  mcp: boolean;
  coordinatorUrl?: string;
  mcpName: string;
  dryRun?: boolean;
}

export const PLUGIN_DIR = join(INSTALL_ROOT, "plugins", "openclaw");
const TOKEN_PREFIX = "openclaw-";

function runOpenClaw(bin: string, args: string[], input?: string): { ok: boolean; output: string } {
  const result = spawnSync(bin, args, { input, encoding: "utf8", timeout: 120_000, env: process.env });
  if (result.error) return { ok: false, output: (result.error as NodeJS.ErrnoException).code === "ENOENT" ? `${bin}: command not found` : result.error.message };
  return { ok: result.status === 0, output: `${result.stdout ?? ""}${result.stderr ?? ""}`.trim() };
}

export function register(program: Command): void {
  const openclaw = program.command("openclaw").description("connect an OpenClaw gateway to the fleet (plugin and/or MCP server)");

  openclaw
    .command("install")
    .description("install the fleet tools into the local OpenClaw: plugin (default) and/or `ocf mcp` as an MCP server, with a new exec-scope token")
    .option("--openclaw <path>", "the openclaw CLI to use (default: OCF_OPENCLAW_BIN or openclaw on PATH)")
    .option("--no-plugin", "do not install the plugin")
    .option("--mcp", "also register `ocf mcp` under mcp.servers")
    .option("--mcp-name <name>", "name of the MCP server entry (the model sees its tools as <name>__fleet_exec)", "ocf")
    .option("--coordinator-url <url>", "the coordinator URL the gateway should use (default: the one this CLI uses)")
    .option("--dry-run", "show what would be done; change nothing")
    .action(async (raw: Partial<InstallOptions>, command: Command) => {
      const options: InstallOptions = {
        openclaw: raw.openclaw ?? process.env.OCF_OPENCLAW_BIN ?? "openclaw",
        plugin: raw.plugin ?? true,
        mcp: raw.mcp ?? false,
        mcpName: raw.mcpName ?? "ocf",
        ...(raw.coordinatorUrl ? { coordinatorUrl: raw.coordinatorUrl } : {}),
        ...(raw.dryRun ? { dryRun: true } : {}),
      };
      const json = globals(command).json === true;
      // Lines may name tokens and the coordinator's answers: shown escaped.
      const say = (line: string): void => {
        if (!json) console.log(printable(line, "\n"));
      };
      if (!options.plugin && !options.mcp) throw new CliError("nothing to install: --no-plugin without --mcp", EXIT.usage);
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.mcpName)) throw new CliError(`--mcp-name must be 1-64 of [A-Za-z0-9_-], not "${options.mcpName}"`, EXIT.usage);
      const version = runOpenClaw(options.openclaw, ["--version"]);
      if (!version.ok) {
        throw new CliError(`cannot run OpenClaw (${version.output || "no output"}): install it (npm install -g openclaw, Node 24) or pass --openclaw /path/to/openclaw`, EXIT.failure);
      }
      if (options.plugin && !existsSync(join(PLUGIN_DIR, "index.js"))) {
        throw new CliError(`the plugin is not built (${join(PLUGIN_DIR, "index.js")} is missing): run npm run build in ${INSTALL_ROOT}`, EXIT.failure);
      }
      const client = clientFor(command);
      const url = options.coordinatorUrl ?? client.url;
      const health = await client.health().catch(fromClientError);
      const steps = [
        `create an exec-scope API token "${TOKEN_PREFIX}<time>" for OpenClaw`,
        ...(options.plugin ? [`${options.openclaw} plugins install ${PLUGIN_DIR} --force --accept-capabilities`, `set plugins.entries.${PLUGIN_ID} = { enabled: true, config: { url: "${url}", token: <new token> } }`] : []),
        ...(options.mcp ? [`set mcp.servers.${options.mcpName} = { command: "${join(INSTALL_ROOT, "bin", "ocf")}", args: ["mcp"], env: { OCF_URL: "${url}", OCF_TOKEN: <new token> } }`] : []),
        `revoke earlier "${TOKEN_PREFIX}*" tokens`,
      ];
      if (options.dryRun) {
        if (json) printJson({ dry_run: true, openclaw: version.output, coordinator: url, steps });
        else {
          say(`dry run (OpenClaw ${version.output}, coordinator ${url} ${health.status}); would:`);
          for (const step of steps) say(`  - ${step}`);
        }
        return;
      }

      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").replace(".", "-").replace(/Z$/, "");
      const created = await client.createToken(`${TOKEN_PREFIX}${stamp}`, "exec").catch(fromClientError);
      const undo = async (): Promise<void> => {
        await client.revokeToken(created.id).catch(() => undefined);
      };
      say(`created token ${created.name} (exec scope)`);
      if (options.plugin) {
        const installed = runOpenClaw(options.openclaw, ["plugins", "install", PLUGIN_DIR, "--force", "--accept-capabilities"]);
        if (!installed.ok) {
          await undo();
          throw new CliError(`openclaw plugins install failed:\n${installed.output}`, EXIT.failure);
        }
        say(`installed the plugin ${PLUGIN_ID}`);
      }
      const patch: Record<string, unknown> = {};
      if (options.plugin) patch.plugins = { entries: { [PLUGIN_ID]: { enabled: true, config: { url, token: created.token } } } };
      if (options.mcp) patch.mcp = { servers: { [options.mcpName]: { command: join(INSTALL_ROOT, "bin", "ocf"), args: ["mcp"], env: { OCF_URL: url, OCF_TOKEN: created.token } } } };
      const patched = runOpenClaw(options.openclaw, ["config", "patch", "--stdin"], JSON.stringify(patch));
      if (!patched.ok) {
        await undo();
        throw new CliError(`openclaw config patch failed (nothing else was changed in its config):\n${patched.output}`, EXIT.failure);
      }
      say(`configured OpenClaw: ${[options.plugin ? `plugins.entries.${PLUGIN_ID}` : "", options.mcp ? `mcp.servers.${options.mcpName}` : ""].filter(Boolean).join(", ")} → ${url}`);
      const previous = (await client.tokens().catch(fromClientError)).filter((token) => token.name.startsWith(TOKEN_PREFIX) && token.id !== created.id && token.revoked_at === null);
      for (const token of previous) await client.revokeToken(token.id).catch(fromClientError);
      if (previous.length) say(`revoked the earlier token(s): ${previous.map((token) => token.name).join(", ")}`);
      if (json) printJson({ token: { id: created.id, name: created.name, scope: created.scope }, plugin: options.plugin ? PLUGIN_ID : null, mcp: options.mcp ? options.mcpName : null, coordinator: url, revoked: previous.map((token) => token.name) });
      else say("Restart the OpenClaw gateway if it was running without the plugin, then ask it e.g. \"ask home-server to check its disk space\". See docs/OPENCLAW.md.");
    });
}

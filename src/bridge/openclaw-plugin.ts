/**
 * The OpenClaw front door: a native OpenClaw plugin that registers the fleet tools. Bundled by
 * `npm run build` (scripts/build-plugin.mjs) into plugins/openclaw/index.js, a self-contained file
 * that OpenClaw loads with require(): no top-level await, a synchronous register(), no import from
 * openclaw itself. Configured under plugins.entries.ocf-fleet.config = { url, token }.
 */
import { FleetClient } from "../client/client.js";
import { FLEET_TOOLS, runTool, type ToolOutcome } from "./tools.js";

export const PLUGIN_ID = "ocf-fleet";

/** The part of OpenClaw's plugin API this plugin uses. */
export interface OpenClawPluginApi {
  pluginConfig?: unknown;
  registerTool(tool: {
    name: string;
    label: string;
    description: string;
    parameters: Record<string, unknown>;
    execute: (toolCallId: string, params: unknown, signal?: AbortSignal) => Promise<OpenClawToolResult>;
  }): void;
  logger?: { info?: (message: string) => void; warn?: (message: string) => void };
}

export interface OpenClawToolResult {
  content: Array<{ type: "text"; text: string } | { type: "image"; data: string; mimeType: string }>;
  details: Record<string, unknown>;
}

interface PluginConfig {
  url?: string;
  token?: string;
}

function readConfig(raw: unknown): PluginConfig {
  const config = (raw ?? {}) as PluginConfig;
  return {
    url: typeof config.url === "string" && config.url ? config.url : process.env.OCF_URL,
    token: typeof config.token === "string" && config.token ? config.token : process.env.OCF_TOKEN,
  };
}

export function toOpenClawResult(outcome: ToolOutcome): OpenClawToolResult {
  const content: OpenClawToolResult["content"] = [{ type: "text", text: outcome.text }];
  if (outcome.image) content.push({ type: "image", data: outcome.image.data, mimeType: outcome.image.mimeType });
  return { content, details: outcome.details };
}

const plugin = {
  id: PLUGIN_ID,
  name: "OpenClaw Federation",
  description: "Drive your fleet of machines: list them, run commands on one or all, screenshots and camera shots where available.",
  register(api: OpenClawPluginApi): void {
    const config = readConfig(api.pluginConfig);
    const client = config.url ? new FleetClient({ url: config.url, token: config.token }) : undefined;
    if (!client) api.logger?.warn?.(`${PLUGIN_ID}: no coordinator url configured (plugins.entries.${PLUGIN_ID}.config.url); the fleet tools will say so`);
    for (const tool of FLEET_TOOLS) {
      api.registerTool({
        name: tool.name,
        label: tool.label,
        description: tool.description,
        parameters: tool.parameters,
        execute: async (_toolCallId, params) => {
          if (!client) {
            const text = `The fleet tools are not configured: set plugins.entries.${PLUGIN_ID}.config.url and .token (ocf openclaw install does it).`;
            return toOpenClawResult({ text, isError: true, details: { status: "error", ok: false, error: { code: "unavailable", message: text } } });
          }
          const outcome = await runTool(client, tool.name, params);
          // OpenClaw counts a thrown error as a failed call: do that for errors, keeping the sentence.
          if (outcome.isError) throw new Error(outcome.text);
          return toOpenClawResult(outcome);
        },
      });
    }
  },
};

export default plugin;

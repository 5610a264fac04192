/**
 * The MCP front door (`ocf mcp`): the fleet tools over stdio for OpenClaw's `mcp.servers` and any
 * other MCP client. Same tools, same answers as the OpenClaw plugin (src/bridge/tools.ts).
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { FleetClient } from "../client/client.js";
import { SOFTWARE_VERSION } from "../version.js";
import { FLEET_TOOLS, runTool, type ToolOutcome } from "./tools.js";

export function toMcpResult(outcome: ToolOutcome): CallToolResult {
  const content: CallToolResult["content"] = [{ type: "text", text: outcome.text }];
  if (outcome.image) content.push({ type: "image", data: outcome.image.data, mimeType: outcome.image.mimeType });
  return { content, isError: outcome.isError, structuredContent: outcome.details };
}

export function createMcpServer(client: FleetClient): Server {
  const server = new Server({ name: "openclaw-federation", version: SOFTWARE_VERSION }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: FLEET_TOOLS.map((tool) => ({ name: tool.name, title: tool.label, description: tool.description, inputSchema: tool.parameters as { type: "object" } })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => toMcpResult(await runTool(client, request.params.name, request.params.arguments ?? {})));
  return server;
}

/** Serve on stdin/stdout until the client goes away. */
export async function serveMcpOverStdio(client: FleetClient): Promise<void> {
  const server = createMcpServer(client);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  await server.connect(transport);
  process.stdin.once("end", () => void server.close());
  await closed;
}

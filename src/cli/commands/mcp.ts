/** `ocf mcp`: the fleet tools as an MCP server on stdio (for OpenClaw's mcp.servers, Claude Desktop, editors). */
import type { Command } from "commander";
import { clientFor } from "../context.js";

export function register(program: Command): void {
  program
    .command("mcp")
    .description("serve the fleet tools (fleet_nodes, fleet_exec, fleet_broadcast, fleet_info, fleet_screenshot, fleet_camera) as an MCP server on stdin/stdout; uses --url and OCF_TOKEN or --token-file (an exec-scope token is enough)")
    .action(async (_options, command: Command) => {
      // stdout belongs to the MCP protocol: nothing else may be printed there.
      const { serveMcpOverStdio } = await import("../../bridge/mcp-server.js");
      await serveMcpOverStdio(clientFor(command));
    });
}

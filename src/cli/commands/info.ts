/** `ocf info <node>`: how a node is doing (OS, CPU, load, memory, disks, uptime, network, Tailscale). */
import type { Command } from "commander";
import { formatNodeInfo } from "../../client/format-info.js";
import { clientFor, fromClientError, globals, printJson } from "../context.js";

export function register(program: Command): void {
  program
    .command("info <node>")
    .description("ask a node how it is doing: OS, kernel, CPU and load, memory, disks, uptime, network interfaces, Tailscale")
    .action(async (node: string, _options, command: Command) => {
      const result = await clientFor(command).info(node).catch(fromClientError);
      if (globals(command).json) printJson(result);
      else console.log(formatNodeInfo(result));
    });
}

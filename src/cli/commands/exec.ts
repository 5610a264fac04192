import type { Command } from "commander";
import { clientFor, fromClientError, globals, parseDuration, printJson } from "../context.js";
import { EXIT } from "../errors.js";
import { printable } from "../format.js";
import { follow, taskExitCode } from "./tasks.js";

export function register(program: Command): void {
  program
    .command("exec <node> <command>")
    .description('run a shell command on one node (by id or name) and exit with its exit code, e.g. ocf exec home-server "df -h"')
    .option("-t, --timeout <duration>", "command timeout, e.g. 30s, 2m (default: coordinator.exec_timeout)")
    .option("-f, --follow", "run it as a durable task and stream its output while it runs (for long commands)")
    .action(async (node: string, shellCommand: string, options: { timeout?: string; follow?: boolean }, command: Command) => {
      const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
      if (options.follow) {
        const client = clientFor(command);
        const task = await client.submitTask({ command: shellCommand, node, ...(timeoutMs ? { timeout_s: timeoutMs / 1000 } : {}) }).catch(fromClientError);
        const final = await follow(client, task.id, globals(command).json === true);
        if (globals(command).json) printJson(final);
        process.exitCode = taskExitCode(final);
        return;
      }
      const result = await clientFor(command).exec(node, shellCommand, timeoutMs).catch(fromClientError);
      if (globals(command).json) printJson(result);
      else {
        process.stdout.write(result.stdout);
        process.stderr.write(result.stderr);
        if (result.truncated) process.stderr.write(`\n[ocf] output was truncated (each stream is capped; see worker.max_output_bytes)\n`);
        // The command's own output is printed as it came; ocf's notes about it are escaped.
        if (result.status === "timeout") process.stderr.write(`[ocf] ${printable(result.error?.message ?? "command timed out")}\n`);
        else if (result.error) process.stderr.write(`[ocf] ${printable(result.error.message)}\n`);
      }
      process.exitCode = result.status === "timeout" ? EXIT.timeout : (result.exit_code ?? (result.signal ? 128 : EXIT.failure));
    });
}

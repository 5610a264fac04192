/** `ocf screenshot <node> [-o file.png]`: a PNG of a node's screen, saved locally. */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { clientFor, fromClientError, globals, parseDuration, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";

export function register(program: Command): void {
  program
    .command("screenshot <node>")
    .description("take a screenshot on a node (it must report screen.capture) and save the PNG, e.g. ocf screenshot macbook -o shot.png")
    .option("-o, --output <file>", "where to save the PNG (default: <node>-<time>.png in the current folder; - for stdout)")
    .option("--display <display>", "which X display on the node, e.g. :1 (default: the worker's DISPLAY)")
    .option("-t, --timeout <duration>", "give up after this long (default 30s)")
    .action(async (node: string, options: { output?: string; display?: string; timeout?: string }, command: Command) => {
      const client = clientFor(command);
      const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
      const shot = await client.screenshot(node, { ...(options.display ? { display: options.display } : {}), ...(timeoutMs ? { timeoutMs } : {}) }).catch(fromClientError);
      const file = await client.download(shot.file.url).catch(fromClientError);
      if (options.output === "-") {
        process.stdout.write(file.data);
        return;
      }
      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
      const path = resolve(options.output ?? `${shot.node_id}-${stamp}.png`);
      try {
        writeFileSync(path, file.data);
      } catch (error) {
        throw new CliError(`cannot write ${path}: ${(error as Error).message}`, EXIT.failure);
      }
      if (globals(command).json) printJson({ ...shot, saved_to: path });
      else console.log(`saved ${path} (${shot.width ?? "?"}x${shot.height ?? "?"}, ${shot.file.bytes} bytes, sha256 ${shot.file.sha256.slice(0, 16)}…) from ${shot.node_id}`);
    });
}

/**
 * `ocf screenshot <node>` and `ocf camera <node>`: a picture taken on a node, kept by the
 * coordinator and saved here (-o file, or - for stdout).
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { CaptureResult } from "../../protocol/api.js";
import type { FleetClient } from "../../client/client.js";
import { clientFor, fromClientError, globals, parseDuration, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { printable } from "../format.js";

/**
 * The default file name for a picture of `node` as the operator typed it: letters, digits, `.`, `_`
 * and `-` only, no leading dot, so it stays a plain file in the current folder. Never the node id
 * from the answer: a node (or a coordinator) does not choose names on this machine.
 */
export function defaultCaptureName(node: string, extension: string, now = new Date()): string {
  const safe = node.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "") || "node";
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
  return `${safe}-${stamp}.${extension}`;
}

async function save(command: Command, client: FleetClient, node: string, shot: CaptureResult, output: string | undefined, extension: string): Promise<void> {
  const file = await client.download(shot.file.url).catch(fromClientError);
  if (output === "-") {
    process.stdout.write(file.data);
    return;
  }
  const path = resolve(output ?? defaultCaptureName(node, extension));
  try {
    writeFileSync(path, file.data);
  } catch (error) {
    throw new CliError(`cannot write ${path}: ${(error as Error).message}`, EXIT.failure);
  }
  if (globals(command).json) printJson({ ...shot, saved_to: path });
  else console.log(printable(`saved ${path} (${shot.width ?? "?"}x${shot.height ?? "?"}, ${shot.file.bytes} bytes, sha256 ${shot.file.sha256.slice(0, 16)}…) from ${shot.node_id}`));
}

function positiveInt(value: string, flag: string): number {
  if (!/^[1-9][0-9]*$/.test(value)) throw new CliError(`${flag} must be a positive whole number, not "${value}"`, EXIT.usage);
  return Number(value);
}

export function register(program: Command): void {
  program
    .command("screenshot <node>")
    .description("take a screenshot on a node (it must report screen.capture) and save the PNG, e.g. ocf screenshot macbook -o shot.png")
    .option("-o, --output <file>", "where to save the PNG (default: <node>-<time>.png in the current folder; - for stdout)")
    .option("--display <display>", "which X display on the node, e.g. :1 (default: the worker's DISPLAY)")
    .option("--max-width <pixels>", "scale the picture down to at most this width")
    .option("-t, --timeout <duration>", "give up after this long (default 30s)")
    .action(async (node: string, options: { output?: string; display?: string; maxWidth?: string; timeout?: string }, command: Command) => {
      const client = clientFor(command);
      const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
      const shot = await client
        .screenshot(node, { ...(options.display ? { display: options.display } : {}), ...(options.maxWidth ? { maxWidth: positiveInt(options.maxWidth, "--max-width") } : {}), ...(timeoutMs ? { timeoutMs } : {}) })
        .catch(fromClientError);
      await save(command, client, node, shot, options.output, "png");
    });

  program
    .command("camera <node>")
    .description("take a photo with a node's camera (it must report camera.snap) and save it, e.g. ocf camera garage -o door.jpg")
    .option("-o, --output <file>", "where to save the picture (default: <node>-<time>.jpg in the current folder; - for stdout)")
    .option("--device <device>", "which camera on the node, e.g. /dev/video1 (default: the worker's worker.camera_device)")
    .option("--resolution <WxH>", "size of the picture, e.g. 1280x720 (default: the worker's worker.camera_resolution, or what the camera gives)")
    .option("--format <format>", "jpeg or png (default: the worker's worker.camera_format, jpeg; or the -o file's extension)")
    .option("-t, --timeout <duration>", "give up after this long (default 30s)")
    .action(async (node: string, options: { output?: string; device?: string; resolution?: string; format?: string; timeout?: string }, command: Command) => {
      const fromName = options.output?.toLowerCase().endsWith(".png") ? "png" : /\.jpe?g$/i.test(options.output ?? "") ? "jpeg" : undefined;
      const format = options.format ?? fromName;
      if (format !== undefined && format !== "jpeg" && format !== "png") throw new CliError(`--format must be jpeg or png, not "${format}"`, EXIT.usage);
      if (options.resolution !== undefined && !/^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$/.test(options.resolution)) throw new CliError(`--resolution must be WIDTHxHEIGHT such as 1280x720, not "${options.resolution}"`, EXIT.usage);
      const client = clientFor(command);
      const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
      const shot = await client
        .camera(node, { ...(options.device ? { device: options.device } : {}), ...(options.resolution ? { resolution: options.resolution } : {}), ...(format ? { format } : {}), ...(timeoutMs ? { timeoutMs } : {}) })
        .catch(fromClientError);
      await save(command, client, node, shot, options.output, shot.file.mime === "image/png" ? "png" : "jpg");
    });
}

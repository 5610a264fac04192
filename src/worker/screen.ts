/** Take a PNG of the screen with the tool the probe found (ImageMagick import, grim, screencapture). */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPng, pngSize } from "../util/png.js";
import type { ScreenTool } from "./capabilities.js";
import { which } from "./capabilities.js";
import { runCaptureTool } from "./capture-tool.js";

export interface ScreenOptions {
  display?: string | undefined;
  /** Scale down (keeping the aspect ratio) when the screen is wider than this. */
  maxWidth?: number | undefined;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

export async function captureScreen(tool: ScreenTool, options: ScreenOptions): Promise<Buffer> {
  const env = { ...(options.env ?? process.env), ...(options.display ? { DISPLAY: options.display } : {}) };
  const dir = tool.toFile ? mkdtempSync(join(tmpdir(), "ocf-shot-")) : undefined;
  const file = dir ? join(dir, "screen.png") : "";
  let args = tool.args.map((arg) => (arg === "{file}" ? file : arg));
  // ImageMagick scales as it captures; the other tools' PNGs are scaled afterwards.
  const scaledByTool = options.maxWidth !== undefined && tool.resizeFlag !== undefined;
  if (scaledByTool) args = [...args.slice(0, -1), tool.resizeFlag as string, `${options.maxWidth}x>`, ...args.slice(-1)];
  try {
    const started = Date.now();
    const stdout = await runCaptureTool(tool.command, args, { env, timeoutMs: options.timeoutMs });
    const png = tool.toFile ? readFileSync(file) : stdout;
    if (!isPng(png)) throw new Error(`${tool.command} did not produce a PNG`);
    if (options.maxWidth === undefined || scaledByTool || pngSize(png).width <= options.maxWidth) return png;
    return await scalePng(png, options.maxWidth, env, Math.max(1000, options.timeoutMs - (Date.now() - started)));
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** Scale a PNG down to `maxWidth` with ffmpeg or ImageMagick, whichever this machine has. */
async function scalePng(png: Buffer, maxWidth: number, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Buffer> {
  const ffmpeg = which("ffmpeg", env);
  const magick = which("magick", env) ?? which("convert", env);
  let scaled: Buffer;
  if (ffmpeg) {
    scaled = await runCaptureTool(ffmpeg, ["-hide_banner", "-loglevel", "error", "-f", "png_pipe", "-i", "-", "-vf", `scale=${maxWidth}:-2`, "-frames:v", "1", "-c:v", "png", "-f", "image2pipe", "-"], { env, timeoutMs, input: png });
  } else if (magick) {
    scaled = await runCaptureTool(magick, ["png:-", "-resize", `${maxWidth}x>`, "png24:-"], { env, timeoutMs, input: png });
  } else {
    throw new Error("scaling a screenshot needs ffmpeg or ImageMagick on the node; ask for the full size instead");
  }
  if (!isPng(scaled)) throw new Error("scaling did not produce a PNG");
  return scaled;
}

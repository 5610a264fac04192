/** Take a PNG of the screen with the tool the probe found (ImageMagick import, grim, screencapture). */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isPng } from "../util/png.js";
import type { ScreenTool } from "./capabilities.js";

/** Largest screenshot accepted from the tool (a 4K screen is 5-25 MB as PNG). */
export const MAX_SCREENSHOT_BYTES = 32 * 1024 * 1024;


export async function captureScreen(tool: ScreenTool, options: { display?: string | undefined; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Buffer> {
  const env = { ...(options.env ?? process.env), ...(options.display ? { DISPLAY: options.display } : {}) };
  const dir = tool.toFile ? mkdtempSync(join(tmpdir(), "ocf-shot-")) : undefined;
  const file = dir ? join(dir, "screen.png") : "";
  const args = tool.args.map((arg) => (arg === "{file}" ? file : arg));
  try {
    const stdout = await new Promise<Buffer>((resolve, reject) => {
      const child = spawn(tool.command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
      const chunks: Buffer[] = [];
      let size = 0;
      let stderr = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${tool.command} did not finish within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      child.stdout.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_SCREENSHOT_BYTES) {
          child.kill("SIGKILL");
          return;
        }
        chunks.push(chunk);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-2000);
      });
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        if (size > MAX_SCREENSHOT_BYTES) reject(new Error(`the screenshot is larger than ${MAX_SCREENSHOT_BYTES} bytes`));
        else if (code !== 0) reject(new Error(`${tool.command} exited with ${code}: ${stderr.trim() || "no message"}`));
        else resolve(Buffer.concat(chunks));
      });
    });
    const png = tool.toFile ? readFileSync(file) : stdout;
    if (!isPng(png)) throw new Error(`${tool.command} did not produce a PNG`);
    return png;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

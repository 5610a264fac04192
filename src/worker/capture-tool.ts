/**
 * Run a capture program (ImageMagick import, grim, screencapture, ffmpeg) that writes one image to
 * stdout, with a time limit and a size cap, and give back the bytes or an error with its stderr.
 */
import { spawn } from "node:child_process";

/** Largest image accepted from a capture tool (a 4K screen is 5-25 MB as PNG). */
export const MAX_CAPTURE_BYTES = 32 * 1024 * 1024;

export interface CaptureToolOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Bytes for the tool's stdin (e.g. an image to scale); default: no stdin. */
  input?: Buffer;
  maxBytes?: number;
}

export function runCaptureTool(command: string, args: string[], options: CaptureToolOptions): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? MAX_CAPTURE_BYTES;
  return new Promise<Buffer>((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ["pipe", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} did not finish within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input);
    child.stdout.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
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
      if (size > maxBytes) reject(new Error(`the image is larger than ${maxBytes} bytes`));
      else if (code !== 0) reject(new Error(`${command} exited with ${code}: ${lastLines(stderr) || "no message"}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}

/** The end of a tool's stderr, which is where ffmpeg and friends say what went wrong. */
function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join(" | ");
}

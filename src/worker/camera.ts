/**
 * camera.snap: one frame from a camera through ffmpeg, as JPEG or PNG. Linux reads a V4L2 device
 * (/dev/video0 by default), macOS an AVFoundation device ("0"); `lavfi` takes an ffmpeg test source
 * such as `testsrc=size=640x480:rate=5` as the device (for tests and demos).
 */
import { existsSync } from "node:fs";
import { isJpeg } from "../util/jpeg.js";
import { isPng } from "../util/png.js";
import { runCaptureTool } from "./capture-tool.js";

export type CameraInput = "v4l2" | "avfoundation" | "lavfi";
export type ImageFormat = "jpeg" | "png";

export interface CameraSettings {
  input: "auto" | CameraInput;
  device?: string | undefined;
  resolution?: string | undefined;
  format: ImageFormat;
}

export interface CameraSetup {
  ffmpeg: string;
  input: CameraInput;
  device: string;
  resolution?: string | undefined;
  format: ImageFormat;
}

/** Frames skipped on a real camera so exposure and white balance settle. */
const WARMUP_FRAMES = 5;

/** Device names a caller may ask for instead of the configured one (never a lavfi graph: it can read files). */
const DEVICE_PATTERNS: Record<CameraInput, RegExp | undefined> = {
  v4l2: /^\/dev\/video[0-9]{1,3}$/,
  avfoundation: /^[0-9]{1,2}$/,
  lavfi: undefined,
};

/** The camera this node would use, or why it has none (a sentence naming what is missing). */
export function probeCamera(settings: CameraSettings, ffmpeg: string | undefined, platform: NodeJS.Platform): CameraSetup | string {
  const input: CameraInput | undefined = settings.input !== "auto" ? settings.input : platform === "linux" ? "v4l2" : platform === "darwin" ? "avfoundation" : undefined;
  if (!input) return `camera capture is not supported on ${platform} yet`;
  const device = settings.device ?? (input === "v4l2" ? "/dev/video0" : input === "avfoundation" ? "0" : undefined);
  if (!device) return "worker.camera_input is lavfi but worker.camera_device (the test source, e.g. testsrc=size=640x480:rate=5) is unset";
  if (input === "v4l2" && !existsSync(device)) return `no camera: ${device} does not exist (plug one in or set worker.camera_device)`;
  if (!ffmpeg) return `camera ${device} found but ffmpeg is not installed (apt-get install ffmpeg)`;
  return { ffmpeg, input, device, resolution: settings.resolution, format: settings.format };
}

export interface SnapOptions {
  device?: string | undefined;
  resolution?: string | undefined;
  format?: ImageFormat | undefined;
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
}

/** A caller's device choice, checked against what that input allows. */
export function checkDevice(setup: CameraSetup, device: string | undefined): string {
  if (device === undefined || device === setup.device) return setup.device;
  const pattern = DEVICE_PATTERNS[setup.input];
  if (!pattern) throw new RangeError(`this node's camera input is ${setup.input}, which takes its device from worker.camera_device only`);
  if (!pattern.test(device)) throw new RangeError(`device "${device}" is not a ${setup.input} camera device (expected something like ${setup.input === "v4l2" ? "/dev/video1" : "1"})`);
  if (setup.input === "v4l2" && !existsSync(device)) throw new RangeError(`no camera at ${device}`);
  return device;
}

export function ffmpegArgs(setup: CameraSetup, options: Omit<SnapOptions, "timeoutMs" | "env">): string[] {
  const device = checkDevice(setup, options.device);
  const resolution = options.resolution ?? setup.resolution;
  const format = options.format ?? setup.format;
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin"];
  if (setup.input === "v4l2") args.push("-f", "v4l2", ...(resolution ? ["-video_size", resolution] : []), "-i", device);
  else if (setup.input === "avfoundation") args.push("-f", "avfoundation", "-framerate", "30", ...(resolution ? ["-video_size", resolution] : []), "-i", device);
  else args.push("-f", "lavfi", "-i", device);
  const filters: string[] = [];
  if (setup.input !== "lavfi") filters.push(`select=gte(n\\,${WARMUP_FRAMES})`);
  // The camera may not offer that exact size: scale so the picture is what was asked for.
  if (resolution) filters.push(`scale=${resolution.replace("x", ":")}`);
  if (filters.length) args.push("-vf", filters.join(","));
  args.push("-frames:v", "1", "-an");
  if (format === "jpeg") args.push("-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p");
  else args.push("-c:v", "png", "-pix_fmt", "rgb24");
  args.push("-f", "image2pipe", "-");
  return args;
}

/** One frame as JPEG or PNG bytes. */
export async function snapCamera(setup: CameraSetup, options: SnapOptions): Promise<{ data: Buffer; mime: string }> {
  const format = options.format ?? setup.format;
  const data = await runCaptureTool(setup.ffmpeg, ffmpegArgs(setup, options), { env: options.env ?? process.env, timeoutMs: options.timeoutMs });
  if (format === "jpeg" ? !isJpeg(data) : !isPng(data)) throw new Error(`ffmpeg did not produce a ${format.toUpperCase()} image from ${setup.device}`);
  return { data, mime: format === "jpeg" ? "image/jpeg" : "image/png" };
}

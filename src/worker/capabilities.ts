/**
 * What this machine can really do, probed at start: the shell always; a screenshot when there is
 * a display and a tool to capture it. Each missing capability keeps the reason, so a call for it
 * is refused with a sentence naming what is missing on this node.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { probeCamera, type CameraSettings, type CameraSetup } from "./camera.js";

export interface ScreenTool {
  /** Program and arguments that write a PNG of the whole screen to stdout (or to `{file}`). */
  command: string;
  args: string[];
  /** The tool writes to this placeholder path instead of stdout. */
  toFile: boolean;
  /** Flag that scales while capturing (ImageMagick's -resize), placed before the output argument. */
  resizeFlag?: string;
}

export interface ProbedCapabilities {
  /** Capability names to report: shell.exec, screen.capture, ... */
  list: string[];
  /** Why a capability is absent, by name. */
  missing: Record<string, string>;
  screen?: ScreenTool;
  camera?: CameraSetup;
}

/** Full path of `program` on PATH, or undefined. */
export function which(program: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(":").filter(Boolean)) {
    const candidate = join(dir, program);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function probeScreen(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): ScreenTool | string {
  if (platform === "darwin") {
    const tool = which("screencapture", env);
    return tool ? { command: tool, args: ["-x", "-t", "png", "{file}"], toFile: true } : "screencapture not found";
  }
  if (platform !== "linux" && platform !== "freebsd") return `screen capture is not supported on ${platform} yet`;
  if (env.WAYLAND_DISPLAY) {
    const grim = which("grim", env);
    if (grim) return { command: grim, args: ["-"], toFile: false };
    if (!env.DISPLAY) return "Wayland session without grim (install grim)";
  }
  if (!env.DISPLAY) return "no display: DISPLAY unset and no Wayland session";
  const importTool = which("import", env);
  // png24: always 8-bit RGB, whatever the screen holds (a plain screen would otherwise become a palette or grey PNG).
  if (importTool) return { command: importTool, args: ["-silent", "-window", "root", "png24:-"], toFile: false, resizeFlag: "-resize" };
  return `display ${env.DISPLAY} but no capture tool: install ImageMagick (import) or grim`;
}

export const NO_CAMERA_SETTINGS: CameraSettings = { input: "auto", format: "jpeg" };

export function probeCapabilities(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, camera: CameraSettings = NO_CAMERA_SETTINGS): ProbedCapabilities {
  const list = ["shell.exec"];
  const missing: Record<string, string> = {};
  const probed: ProbedCapabilities = { list, missing };
  const screen = probeScreen(env, platform);
  if (typeof screen === "string") missing["screen.capture"] = screen;
  else {
    list.push("screen.capture");
    probed.screen = screen;
  }
  const cam = probeCamera(camera, which("ffmpeg", env), platform);
  if (typeof cam === "string") missing["camera.snap"] = cam;
  else {
    list.push("camera.snap");
    probed.camera = cam;
  }
  return probed;
}

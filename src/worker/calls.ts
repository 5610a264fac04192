/**
 * Capability calls on `ocf.node.<id>.call`, answered by the worker: sys.info, screen.capture,
 * camera.snap, file.get / file.put, skills.list and skill.run. Each handler gives back the answer
 * (a file as base64 with its type, or JSON) or throws a CallFailure naming what went wrong on this
 * node. The worker has already checked that it is approved and not stopping.
 */
import type { Logger } from "pino";
import type { ErrorCode } from "../protocol/errors.js";
import type { CallRequest, CallResult } from "../protocol/messages.js";
import { SOFTWARE_VERSION } from "../version.js";
import { snapCamera } from "./camera.js";
import type { ProbedCapabilities } from "./capabilities.js";
import { FileAccessError, type FileAccess } from "./file-access.js";
import { commandEnv, decideFileWrite, type ExecPolicy } from "./policy.js";
import { captureScreen } from "./screen.js";
import { runProgram, type ShellResult } from "./shell.js";
import { SkillError, skillEnv, type SkillCatalog } from "./skills.js";
import { collectSystemInfo } from "./sysinfo.js";

export class CallFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type CallAnswer = Pick<CallResult, "mime" | "data" | "json">;

export interface CallContext {
  nodeId: string;
  policy: ExecPolicy;
  capabilities: () => ProbedCapabilities;
  files: FileAccess;
  skills: SkillCatalog;
  /** Rescan skills (and probe again) so a new or changed skill counts at once. */
  rescan: () => void;
  /** Environment for capture tools (DISPLAY, PATH, ...). */
  env: NodeJS.ProcessEnv;
  /** Largest base64 answer that fits the NATS server's max payload. */
  maxAnswerBytes: () => number;
  maxOutputBytes: number;
  logger: Logger;
  /** Run work that counts toward max_concurrent_tasks and is killed when the worker stops. */
  track: (id: string, work: (signal: AbortSignal) => Promise<ShellResult>) => Promise<ShellResult>;
}

function fileAnswer(ctx: CallContext, what: string, data: Buffer, mime: string, json?: Record<string, unknown>): CallAnswer {
  const encoded = data.toString("base64");
  const limit = ctx.maxAnswerBytes();
  if (encoded.length > limit) throw new CallFailure("payload_too_large", `${what} is ${data.length} bytes, more than the NATS server's max_payload allows (${limit} bytes as base64)`);
  return { mime, data: encoded, ...(json ? { json } : {}) };
}

function unavailable(ctx: CallContext, capability: string, doing: string): CallFailure {
  return new CallFailure("capability_unavailable", `${ctx.nodeId} cannot ${doing}: ${ctx.capabilities().missing[capability] ?? "not available"}`);
}

export async function answerCall(call: CallRequest, ctx: CallContext): Promise<CallAnswer> {
  const { params } = call;
  if (call.capability === "sys.info") {
    try {
      return { json: { ...(await collectSystemInfo()), agent_version: SOFTWARE_VERSION } };
    } catch (error) {
      throw new CallFailure("exec_failed", `could not collect system information: ${(error as Error).message}`);
    }
  }
  if (call.capability === "skills.list") {
    ctx.rescan();
    return { json: { skills: ctx.skills.list(), problems: ctx.skills.problems(), skills_dir: ctx.skills.dir } };
  }
  // Reading how the machine is doing is not an action; anything else is refused under deny.
  if (ctx.policy.mode === "deny") throw new CallFailure("policy_denied", `${ctx.nodeId} has worker.exec_policy: deny, which refuses every remote action, ${call.capability} included`);
  switch (call.capability) {
    case "file.get":
    case "file.put":
      return files(call, ctx);
    case "screen.capture": {
      const screen = ctx.capabilities().screen;
      if (!screen) throw unavailable(ctx, "screen.capture", "capture its screen");
      let png: Buffer;
      try {
        png = await captureScreen(screen, { display: params.display, maxWidth: params.max_width, timeoutMs: call.timeout_ms, env: ctx.env });
      } catch (error) {
        throw new CallFailure("exec_failed", `screen capture failed on ${ctx.nodeId}: ${(error as Error).message}`);
      }
      ctx.logger.info({ call_id: call.id, bytes: png.length }, "screenshot taken");
      return fileAnswer(ctx, "the screenshot", png, "image/png");
    }
    case "camera.snap": {
      const camera = ctx.capabilities().camera;
      if (!camera) throw unavailable(ctx, "camera.snap", "take a camera photo");
      let shot: { data: Buffer; mime: string };
      try {
        shot = await snapCamera(camera, { device: params.device, resolution: params.resolution, format: params.format, timeoutMs: call.timeout_ms, env: ctx.env });
      } catch (error) {
        if (error instanceof RangeError) throw new CallFailure("bad_request", error.message);
        throw new CallFailure("exec_failed", `camera capture failed on ${ctx.nodeId}: ${(error as Error).message}`);
      }
      ctx.logger.info({ call_id: call.id, bytes: shot.data.length, device: params.device ?? camera.device }, "camera photo taken");
      return fileAnswer(ctx, "the photo", shot.data, shot.mime);
    }
    case "skill.run":
      return runSkill(call, ctx);
  }
}

function files(call: CallRequest, ctx: CallContext): CallAnswer {
  const path = call.params.path;
  if (!path) throw new CallFailure("bad_request", `${call.capability} needs params.path`);
  if (call.capability === "file.put") {
    const verdict = decideFileWrite(ctx.policy);
    if (!verdict.allowed) throw new CallFailure("policy_denied", `${ctx.nodeId} refuses to write ${path}: ${verdict.reason}`);
  }
  try {
    if (call.capability === "file.get") {
      const file = ctx.files.read(path);
      const answer = fileAnswer(ctx, path, file.data, "application/octet-stream", { path: file.path, bytes: file.data.length, sha256: file.sha256 });
      ctx.logger.info({ call_id: call.id, path: file.path, bytes: file.data.length }, "file sent");
      return answer;
    }
    const written = ctx.files.write(path, Buffer.from(call.params.data ?? "", "base64"), call.params.sha256);
    ctx.logger.info({ call_id: call.id, path: written.path, bytes: written.bytes }, "file received");
    return { json: { ...written } };
  } catch (error) {
    if (error instanceof FileAccessError) throw new CallFailure(error.code, error.message);
    throw new CallFailure("exec_failed", `${call.capability} failed: ${(error as Error).message}`);
  }
}

async function runSkill(call: CallRequest, ctx: CallContext): Promise<CallAnswer> {
  const name = call.params.skill;
  if (!name) throw new CallFailure("bad_request", "skill.run needs params.skill");
  ctx.rescan();
  let prepared;
  try {
    prepared = ctx.skills.prepare(name, call.params.args ?? {});
  } catch (error) {
    if (error instanceof SkillError) throw new CallFailure(error.code, error.message);
    throw error;
  }
  const { skill, params } = prepared;
  const timeoutMs = Math.min(call.timeout_ms, skill.timeout_s * 1000);
  ctx.logger.info({ call_id: call.id, skill: skill.name, params: Object.keys(params) }, "skill start");
  const result = await ctx.track(call.id, (signal) =>
    runProgram(skill.program, skill.args, {
      timeoutMs,
      // Both streams must fit one reply, JSON-escaped.
      maxOutputBytes: Math.max(1024, Math.min(ctx.maxOutputBytes, Math.floor(ctx.maxAnswerBytes() / 3))),
      cwd: skill.dir,
      env: skillEnv(commandEnv(ctx.policy), skill, params),
      input: `${JSON.stringify(params)}\n`,
      signal,
    }),
  );
  if (result.spawn_error) throw new CallFailure("exec_failed", `skill "${skill.name}" could not start ${skill.program}: ${result.spawn_error}`);
  const status = result.aborted ? "error" : result.timed_out ? "timeout" : result.exit_code === 0 ? "ok" : "error";
  ctx.logger.info({ call_id: call.id, skill: skill.name, status, exit_code: result.exit_code, ms: result.duration_ms }, "skill done");
  return {
    json: {
      skill: skill.name,
      params,
      status,
      exit_code: result.exit_code,
      signal: result.signal,
      stdout: result.stdout,
      stderr: result.stderr,
      truncated: result.truncated,
      duration_ms: result.duration_ms,
      ...(result.timed_out ? { error: { code: "timeout", message: `skill "${skill.name}" timed out after ${timeoutMs} ms; its process group was killed` } } : {}),
      ...(result.aborted ? { error: { code: "shutting_down", message: "worker shut down; the skill was killed" } } : {}),
    },
  };
}

/**
 * Routes that reach into one node through a capability call: screenshots and camera photos (stored
 * by the coordinator, served by id), files (`ocf cp`), system information, and skills. Scopes are
 * in ../tokens.ts; every action is audited.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FleetError, type ErrorCode } from "../../protocol/errors.js";
import { ResolutionSchema, type CallCapability, type CallRequest } from "../../protocol/messages.js";
import type { NodeSkills, SkillRunResult, SkillView } from "../../protocol/api.js";
import { jpegSize } from "../../util/jpeg.js";
import { pngSize } from "../../util/png.js";
import type { HttpDeps } from "./server.js";
import { parseBody } from "./parse.js";
import { scoped } from "./access.js";

/** Largest upload accepted by PUT /api/v1/nodes/:id/file (workers apply their own worker.max_file_bytes). */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
const MAX_CAPTURE_TIMEOUT_MS = 120_000;
/** How long `skills list` waits for each node. */
const SKILLS_LIST_TIMEOUT_MS = 10_000;
const MAX_SKILL_TIMEOUT_MS = 600_000;

const timeout = z.number().int().min(1).max(MAX_CAPTURE_TIMEOUT_MS).optional();
const ScreenshotBody = z
  .strictObject({
    display: z.string().regex(/^[A-Za-z0-9:._-]{1,64}$/, "display must look like :0 or :1.0").optional(),
    max_width: z.number().int().min(16).max(16384).optional(),
    timeout_ms: timeout,
  })
  .optional();
const CameraBody = z
  .strictObject({
    device: z.string().min(1).max(256).optional(),
    resolution: ResolutionSchema.optional(),
    format: z.enum(["jpeg", "png"]).optional(),
    timeout_ms: timeout,
  })
  .optional();
const FileQuery = z.strictObject({ path: z.string().min(1).max(4096) });
const SkillRunBody = z
  .strictObject({
    params: z.record(z.string(), z.unknown()).optional(),
    timeout_ms: z.number().int().min(1).max(MAX_SKILL_TIMEOUT_MS).optional(),
  })
  .optional();

function imageSize(data: Buffer, mime: string): { width: number; height: number } | undefined {
  if (mime === "image/png") return pngSize(data);
  if (mime === "image/jpeg") return jpegSize(data);
  return undefined;
}

function errorCode(error: unknown): ErrorCode {
  return error instanceof FleetError ? error.code : "internal";
}

export function registerNodeRoutes(app: FastifyInstance, deps: HttpDeps): void {
  /** Take a picture on a node (screen or camera), keep it, and answer where to fetch it. */
  const capture = (path: string, capability: CallCapability, action: string, params: (body: Record<string, unknown>) => CallRequest["params"], schema: typeof ScreenshotBody | typeof CameraBody): void => {
    app.post<{ Params: { id: string } }>(path, scoped("exec"), async (request, reply) => {
      const body = (parseBody(schema, request.body ?? undefined) ?? {}) as Record<string, unknown> & { timeout_ms?: number };
      const started = Date.now();
      let shot;
      try {
        shot = await deps.dispatcher.callForFile(request.params.id, capability, params(body), body.timeout_ms ?? 30_000);
      } catch (error) {
        deps.auditor.record({ actor: request.actor, action, node_id: request.params.id, status: errorCode(error), duration_ms: Date.now() - started, detail: { ip: request.ip } });
        throw error;
      }
      const file = deps.files.save(shot.data, shot.mime);
      deps.auditor.record({ actor: request.actor, action, node_id: shot.node.id, status: "ok", duration_ms: shot.duration_ms, detail: { ip: request.ip, file_id: file.id, bytes: file.bytes } });
      return reply.code(201).send({
        node_id: shot.node.id,
        file: { id: file.id, mime: file.mime, bytes: file.bytes, sha256: file.sha256, url: `/api/v1/files/${file.id}` },
        ...(imageSize(shot.data, shot.mime) ?? {}),
        duration_ms: shot.duration_ms,
      });
    });
  };
  capture("/api/v1/nodes/:id/screenshot", "screen.capture", "screenshot", (body) => ({ display: body.display as string | undefined, max_width: body.max_width as number | undefined }), ScreenshotBody);
  capture(
    "/api/v1/nodes/:id/camera",
    "camera.snap",
    "camera",
    (body) => ({ device: body.device as string | undefined, resolution: body.resolution as string | undefined, format: body.format as "jpeg" | "png" | undefined }),
    CameraBody,
  );

  app.get<{ Params: { id: string } }>("/api/v1/nodes/:id/file", scoped("exec"), async (request, reply) => {
    const { path } = parseBody(FileQuery, request.query);
    const started = Date.now();
    try {
      const { node, result } = await deps.dispatcher.call(request.params.id, "file.get", { path }, 60_000);
      const meta = (result.json ?? {}) as { path?: string; sha256?: string };
      const data = Buffer.from(result.data ?? "", "base64");
      deps.auditor.record({ actor: request.actor, action: "file.get", node_id: node.id, status: "ok", duration_ms: Date.now() - started, detail: { path: meta.path ?? path, bytes: data.length, ip: request.ip } });
      return reply.header("content-type", "application/octet-stream").header("x-ocf-sha256", meta.sha256 ?? "").header("x-ocf-path", encodeURIComponent(meta.path ?? path)).send(data);
    } catch (error) {
      deps.auditor.record({ actor: request.actor, action: "file.get", node_id: request.params.id, status: errorCode(error), duration_ms: Date.now() - started, detail: { path, ip: request.ip } });
      throw error;
    }
  });

  // Raw bytes are accepted by the upload route alone (its own context): every other route takes
  // JSON within MAX_BODY_BYTES, and nothing is read before the caller's token was checked.
  void app.register(async (upload) => {
    upload.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
    upload.put<{ Params: { id: string } }>("/api/v1/nodes/:id/file", { ...scoped("exec"), bodyLimit: MAX_UPLOAD_BYTES }, async (request) => {
      const { path } = parseBody(FileQuery, request.query);
      if (!Buffer.isBuffer(request.body)) throw new FleetError("bad_request", "send the file as the body with Content-Type: application/octet-stream");
      const expected = request.headers["x-ocf-sha256"];
      if (expected !== undefined && (typeof expected !== "string" || !/^[0-9a-f]{64}$/.test(expected))) throw new FleetError("bad_request", "x-ocf-sha256 must be a SHA-256 in hex");
      const started = Date.now();
      try {
        const { node, result } = await deps.dispatcher.call(request.params.id, "file.put", { path, data: request.body.toString("base64"), ...(expected ? { sha256: expected } : {}) }, 60_000);
        const written = (result.json ?? {}) as { path?: string; bytes?: number; sha256?: string };
        deps.auditor.record({ actor: request.actor, action: "file.put", node_id: node.id, status: "ok", duration_ms: Date.now() - started, detail: { path: written.path ?? path, bytes: written.bytes, ip: request.ip } });
        return { node_id: node.id, path: written.path ?? path, bytes: written.bytes ?? request.body.length, sha256: written.sha256 ?? "" };
      } catch (error) {
        deps.auditor.record({ actor: request.actor, action: "file.put", node_id: request.params.id, status: errorCode(error), duration_ms: Date.now() - started, detail: { path, ip: request.ip } });
        throw error;
      }
    });
  });

  app.get<{ Params: { id: string } }>("/api/v1/nodes/:id/info", scoped("read"), async (request) => {
    const { node, result } = await deps.dispatcher.call(request.params.id, "sys.info", {}, 15_000);
    return { node_id: node.id, collected_at: new Date().toISOString(), duration_ms: result.duration_ms, info: result.json ?? {} };
  });

  app.get<{ Params: { id: string } }>("/api/v1/files/:id", scoped("read"), async (request, reply) => {
    const file = deps.files.get(request.params.id);
    return reply.header("content-type", file.mime).header("cache-control", "no-store").send(file.data);
  });

  /** The skills of one node, asked live (with the folders that failed to load and why). */
  const nodeSkills = async (ref: string): Promise<NodeSkills> => {
    const { node, result } = await deps.dispatcher.call(ref, "skills.list", {}, SKILLS_LIST_TIMEOUT_MS);
    const json = (result.json ?? {}) as { skills?: SkillView[]; problems?: Array<{ folder: string; error: string }>; skills_dir?: string };
    return { node_id: node.id, status: "ok", skills: json.skills ?? [], problems: json.problems ?? [], skills_dir: json.skills_dir ?? null };
  };

  app.get<{ Params: { id: string } }>("/api/v1/nodes/:id/skills", scoped("read"), async (request) => nodeSkills(request.params.id));

  app.get("/api/v1/skills", scoped("read"), async () => {
    const nodes = deps.registry.list();
    const answers = await Promise.all(
      nodes.map(async (node): Promise<NodeSkills> => {
        if (node.status !== "online") return { node_id: node.id, status: "offline", skills: [], problems: [], skills_dir: null };
        try {
          return await nodeSkills(node.id);
        } catch (error) {
          const code = errorCode(error);
          return { node_id: node.id, status: code === "timeout" ? "timeout" : code === "node_offline" ? "offline" : "error", skills: [], problems: [], skills_dir: null, error: { code, message: (error as Error).message } };
        }
      }),
    );
    return { nodes: answers, count: answers.length };
  });

  app.post<{ Params: { id: string; skill: string } }>("/api/v1/nodes/:id/skills/:skill/run", scoped("exec"), async (request, reply) => {
    const body = parseBody(SkillRunBody, request.body ?? undefined) ?? {};
    const params = body.params ?? {};
    const started = Date.now();
    const audit = (nodeId: string, status: string, exitCode?: number | null): void =>
      deps.auditor.record({
        actor: request.actor,
        action: "skill.run",
        node_id: nodeId,
        command: `${request.params.skill} ${JSON.stringify(params)}`.slice(0, 2000),
        status,
        ...(exitCode !== undefined ? { exit_code: exitCode } : {}),
        duration_ms: Date.now() - started,
        detail: { ip: request.ip, skill: request.params.skill },
      });
    let run: SkillRunResult;
    try {
      // The skill's own timeout bounds the wait; ask the node for it first (and for a clear error).
      const listed = await nodeSkills(request.params.id);
      const skill = listed.skills.find((s) => s.name === request.params.skill);
      if (!skill) {
        const broken = listed.problems.find((p) => p.folder === request.params.skill);
        throw new FleetError(
          "not_found",
          broken
            ? `skill "${request.params.skill}" is broken on ${listed.node_id}: ${broken.error}`
            : `no skill "${request.params.skill}" on ${listed.node_id} (it has: ${listed.skills.map((s) => s.name).join(", ") || "none"})`,
        );
      }
      if (!skill.available) throw new FleetError("capability_unavailable", `skill "${skill.name}" on ${listed.node_id} needs ${skill.missing ?? "a capability the node lacks"}`);
      const timeoutMs = Math.min(body.timeout_ms ?? MAX_SKILL_TIMEOUT_MS, skill.timeout_s * 1000);
      const { node, result } = await deps.dispatcher.call(listed.node_id, "skill.run", { skill: skill.name, args: params }, timeoutMs);
      run = { node_id: node.id, ...(result.json as Omit<SkillRunResult, "node_id">) };
    } catch (error) {
      audit(request.params.id, errorCode(error));
      throw error;
    }
    audit(run.node_id, run.status, run.exit_code);
    if (run.status === "timeout") return reply.code(504).send(run);
    return run;
  });
}

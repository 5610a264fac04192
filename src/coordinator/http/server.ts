/**
 * The coordinator's HTTP API (fastify). Every route but /health needs `Authorization: Bearer`.
 * Errors are always `{error:{code,message}}` with the matching status; nothing a client sends
 * can crash the process.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";
import { describeZodError } from "../../protocol/codec.js";
import { FleetError, HTTP_STATUS, type ErrorCode } from "../../protocol/errors.js";
import { LabelsSchema } from "../../protocol/messages.js";
import type { HealthReport } from "../../protocol/api.js";
import { tokensEqual } from "../admin-token.js";
import type { Dispatcher } from "../dispatch.js";
import type { Pairing } from "../pairing.js";
import type { Registry } from "../registry.js";
import { joinRequestView, nodeView } from "./views.js";
import type { Logger } from "pino";

export const MAX_BODY_BYTES = 256 * 1024;
const MAX_TIMEOUT_MS = 24 * 3600 * 1000;

export interface HttpDeps {
  token: () => string;
  registry: Registry;
  pairing: Pairing;
  dispatcher: Dispatcher;
  health: () => HealthReport;
  defaultTimeoutMs: number;
  logger: Logger;
}

const ExecBody = z.strictObject({
  node: z.string().min(1).max(128),
  command: z.string().min(1).max(64 * 1024),
  timeout_ms: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional(),
});

const BroadcastBody = z.strictObject({
  command: z.string().min(1).max(64 * 1024),
  labels: LabelsSchema.optional(),
  timeout_ms: z.number().int().min(1).max(MAX_TIMEOUT_MS).optional(),
});

const RejectBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (!result.success) throw new FleetError("bad_request", `invalid request body: ${describeZodError(result.error)}`);
  return result.data;
}

function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, unknown>): FastifyReply {
  return reply.code(HTTP_STATUS[code]).send({ error: { code, message, ...(details ?? {}) } });
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== "string") return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, return503OnClosing: true });

  app.addHook("onRequest", async (request, reply) => {
    if (request.url === "/health" || request.url.startsWith("/health?")) return;
    const presented = bearer(request);
    if (presented === undefined) {
      return sendError(reply, "unauthorized", "missing Authorization: Bearer <token> header (the admin token is in the coordinator's state dir: admin.token)");
    }
    if (!tokensEqual(presented, deps.token())) {
      deps.logger.warn({ ip: request.ip, url: request.url }, "rejected request with a wrong token");
      return sendError(reply, "unauthorized", "invalid token");
    }
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof FleetError) return sendError(reply, error.code, error.message, error.details);
    const status = (error as { statusCode?: number }).statusCode;
    const fastifyCode = (error as { code?: string }).code;
    if (fastifyCode === "FST_ERR_CTP_BODY_TOO_LARGE" || status === 413) {
      return sendError(reply, "payload_too_large", `request body is larger than ${MAX_BODY_BYTES} bytes`);
    }
    if (status !== undefined && status >= 400 && status < 500) {
      const message = fastifyCode === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
        ? "request body must be JSON (Content-Type: application/json)"
        : error instanceof SyntaxError || fastifyCode === "FST_ERR_CTP_INVALID_JSON_BODY" || /JSON/i.test((error as Error).message)
          ? `request body is not valid JSON: ${(error as Error).message}`
          : (error as Error).message;
      return sendError(reply, "bad_request", message);
    }
    deps.logger.error({ err: (error as Error).message, stack: (error as Error).stack, url: request.url }, "unhandled error in HTTP route");
    return sendError(reply, "internal", "internal error; see the coordinator log");
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, "not_found", `no route ${request.method} ${request.url.split("?")[0]}`));

  app.get("/health", async (_request, reply) => {
    const report = deps.health();
    return reply.code(report.status === "ok" ? 200 : 503).send(report);
  });

  app.get("/api/v1/nodes", async () => {
    const nodes = deps.registry.list().map(nodeView);
    return { nodes, count: nodes.length };
  });

  app.get<{ Params: { id: string } }>("/api/v1/nodes/:id", async (request) => nodeView(deps.registry.resolve(request.params.id)));

  app.delete<{ Params: { id: string } }>("/api/v1/nodes/:id", async (request) => {
    const node = deps.registry.resolve(request.params.id);
    deps.pairing.remove(node.id);
    return { removed: nodeView(node) };
  });

  app.get("/api/v1/pending", async () => {
    const pending = deps.pairing.pending().map(joinRequestView);
    return { pending, count: pending.length };
  });

  app.post<{ Params: { requestId: string } }>("/api/v1/pending/:requestId/approve", async (request) => {
    const result = deps.pairing.approve(request.params.requestId);
    return { request: joinRequestView(result.request), node: result.node ? nodeView(result.node) : null };
  });

  app.post<{ Params: { requestId: string } }>("/api/v1/pending/:requestId/reject", async (request) => {
    const body = parseBody(RejectBody, request.body ?? undefined);
    const result = deps.pairing.reject(request.params.requestId, body?.reason ?? "rejected by admin");
    return { request: joinRequestView(result.request) };
  });

  app.post("/api/v1/exec", async (request, reply) => {
    const body = parseBody(ExecBody, request.body);
    const result = await deps.dispatcher.exec(body.node, body.command, body.timeout_ms ?? deps.defaultTimeoutMs);
    if (result.status === "timeout") {
      return reply.code(504).send({ ...result, error: { code: "timeout", message: `command timed out after ${body.timeout_ms ?? deps.defaultTimeoutMs} ms and was killed` } });
    }
    return result;
  });

  app.post("/api/v1/broadcast", async (request) => {
    const body = parseBody(BroadcastBody, request.body);
    return deps.dispatcher.broadcast(body.command, body.labels ?? {}, body.timeout_ms ?? deps.defaultTimeoutMs);
  });

  return app;
}

/**
 * The coordinator's HTTP API (fastify). Every route but /health and the enrollment door
 * (`POST /api/v1/enroll`, authenticated by the node key's signature instead) needs
 * `Authorization: Bearer`.
 * Errors are always `{error:{code,message}}` with the matching status; nothing a client sends
 * can crash the process.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { z } from "zod";
import { FleetError, HTTP_STATUS, type ErrorCode } from "../../protocol/errors.js";
import { JoinRequestSchema, LabelsSchema, MAX_JOIN_REQUEST_BYTES } from "../../protocol/messages.js";
import type { Enrollment } from "../enrollment.js";
import type { FileStore } from "../files.js";
import type { HealthReport } from "../../protocol/api.js";
import type { TokenService } from "../tokens.js";
import { registerAccessControl, scoped, UnauthenticatedGate } from "./access.js";
import { TOKEN_SCOPES } from "../../storage/tokens.js";
import type { Dispatcher } from "../dispatch.js";
import type { Pairing } from "../pairing.js";
import type { Registry } from "../registry.js";
import { auditView, joinRequestView, nodeView, tokenView } from "./views.js";
import { registerNodeRoutes } from "./node-routes.js";
import { registerTaskRoutes } from "./task-routes.js";
import type { TaskService } from "../tasks.js";
import { registerDashboardRoutes } from "./dashboard-routes.js";
import type { Sessions } from "../sessions.js";
import type { Metrics } from "../metrics.js";
import { parseBody } from "./parse.js";
import { pendingMatcher, PendingSelectionSchema } from "../pending-selection.js";
import type { Auditor } from "../audit.js";
import type { AuditRepository } from "../../storage/audit.js";
import type { Logger } from "pino";

export const MAX_BODY_BYTES = 256 * 1024;
/** Largest join request body (the signed payload is at most 64 KiB, with its key and signature). */
export const MAX_ENROLL_BODY_BYTES = MAX_JOIN_REQUEST_BYTES;
/** Longest a client may take to send a whole request (a 64 MiB upload at ~220 KB/s). */
export const REQUEST_TIMEOUT_MS = 300_000;
/** Longest a client may take to send its request headers. */
export const HEADERS_TIMEOUT_MS = 20_000;
/** Longest path parameter (node id or name, request id, token id) accepted. */
const MAX_PARAM_LENGTH = 256;
const MAX_TIMEOUT_MS = 24 * 3600 * 1000;

export interface HttpDeps {
  tasks: TaskService;
  sessions: Sessions;
  metrics: Metrics;
  tokens: TokenService;
  registry: Registry;
  pairing: Pairing;
  dispatcher: Dispatcher;
  health: () => HealthReport;
  defaultTimeoutMs: number;
  logger: Logger;
  auditor: Auditor;
  audit: AuditRepository;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string } | undefined;
  enrollment: Enrollment;
  files: FileStore;
  /** Revoke a node's NATS credentials so it must fetch new ones (`ocf nodes rotate`). */
  rotate: (nodeId: string, actor: string) => Promise<{ node_id: string; revoked_at: string; secure: boolean }>;
}

const EnrollQuery = z.strictObject({ wait: z.coerce.number().min(0).max(30).default(0) });

/** `since`/`until`: an ISO time, or a duration back from now such as 90s, 15m, 2h, 7d. */
function parseTime(value: string, name: string): number {
  const duration = /^(\d+)(s|m|h|d)$/.exec(value);
  if (duration) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "s" | "m" | "h" | "d"];
    return Date.now() - Number(duration[1]) * unit;
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new FleetError("bad_request", `${name} must be an ISO time or a duration like 15m, 2h, 7d`);
  return ms;
}

const AuditQuery = z.strictObject({
  node: z.string().max(128).optional(),
  action: z.string().max(64).optional(),
  actor: z.string().max(128).optional(),
  since: z.string().max(64).optional(),
  until: z.string().max(64).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

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

const TokenBody = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, "name must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit"),
  scope: z.enum(TOKEN_SCOPES),
});

const RejectBody = z.strictObject({ reason: z.string().max(500).optional() }).optional();

/** Longest error message sent: messages may quote what the client sent, never all of it. */
const MAX_ERROR_MESSAGE = 1000;

function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, unknown>): FastifyReply {
  const text = message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE)}...` : message;
  // Refused before its body was read (no token, too large, too many at once): close the
  // connection after the answer instead of reading whatever the client keeps sending.
  if (!reply.request.raw.complete) reply.header("connection", "close");
  return reply.code(HTTP_STATUS[code]).send({ error: { code, message: text, ...(details ?? {}) } });
}

/** A sentence for the storage failures an operator can fix (disk full, read-only), or undefined. */
export function storageTrouble(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("SQLITE_")) return undefined;
  if (code.startsWith("SQLITE_FULL")) return "the coordinator's disk is full: nothing was changed; free space where its database lives (storage.path) and try again";
  if (code.startsWith("SQLITE_READONLY")) return "the coordinator's database is read-only: nothing was changed; make storage.path writable again";
  if (code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_CANTOPEN")) return `the coordinator cannot write its database (${code}): nothing was changed; check the disk where storage.path lives`;
  if (code.startsWith("SQLITE_BUSY")) return "the database is busy; try again";
  return undefined;
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const options = {
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    return503OnClosing: true,
    // A request (headers and body) must be in within these; then the connection is closed. A body
    // without a token has a shorter deadline of its own (access.ts).
    requestTimeout: REQUEST_TIMEOUT_MS,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // Errors the router raises before any route (bad URL encoding, an over-long id) keep our JSON shape.
    frameworkErrors: (error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply) => {
      const message = error.code === "FST_ERR_MAX_PARAM_LENGTH" ? `an id in the path is longer than ${MAX_PARAM_LENGTH} characters` : `bad request URL: ${error.message}`;
      return sendError(reply, "bad_request", message);
    },
  };
  // The HTTPS instance has the same routes and hooks; only its server type differs.
  const app = (deps.tls ? Fastify({ ...options, https: { cert: deps.tls.cert, key: deps.tls.key } }) : Fastify(options)) as unknown as FastifyInstance;
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  registerAccessControl(app, { tokens: deps.tokens, sessions: deps.sessions, auditor: deps.auditor, logger: deps.logger, gate: new UnauthenticatedGate(), sendError });

  app.addHook("onResponse", async (request, reply) => {
    deps.metrics.httpRequests.inc({ method: request.method, route: request.routeOptions.url ?? "unmatched", status: String(reply.statusCode) });
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof FleetError) return sendError(reply, error.code, error.message, error.details);
    const storage = storageTrouble(error);
    if (storage) {
      deps.logger.error({ err: (error as Error).message, code: (error as { code?: string }).code, url: request.url }, storage);
      return sendError(reply, "unavailable", storage);
    }
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

  app.get("/health", scoped("public"), async (_request, reply) => {
    const report = deps.health();
    return reply.code(report.status === "ok" ? 200 : 503).send(report);
  });

  app.post("/api/v1/enroll", { ...scoped("public"), bodyLimit: MAX_ENROLL_BODY_BYTES, onRequest: async (request) => deps.enrollment.admit(request.ip) }, async (request) => {
    const query = parseBody(EnrollQuery, request.query);
    const body = parseBody(JoinRequestSchema, request.body);
    return deps.enrollment.enroll(body, query.wait * 1000, request.ip);
  });

  app.post<{ Params: { id: string } }>("/api/v1/nodes/:id/rotate", scoped("admin"), async (request) => {
    const node = deps.registry.resolve(request.params.id);
    return deps.rotate(node.id, request.actor);
  });

  registerNodeRoutes(app, deps);
  registerTaskRoutes(app, deps);
  registerDashboardRoutes(app, deps);

  app.get("/api/v1/nodes", scoped("read"), async () => {
    const nodes = deps.registry.list().map((node) => nodeView(node, deps.tasks.runningOn(node.id)));
    return { nodes, count: nodes.length };
  });

  app.get<{ Params: { id: string } }>("/api/v1/nodes/:id", scoped("read"), async (request) => {
    const node = deps.registry.resolve(request.params.id);
    return nodeView(node, deps.tasks.runningOn(node.id));
  });

  app.delete<{ Params: { id: string } }>("/api/v1/nodes/:id", scoped("admin"), async (request) => {
    const node = deps.registry.resolve(request.params.id);
    deps.pairing.remove(node.id, "node was removed by an admin", true, request.actor);
    return { removed: nodeView(node) };
  });

  app.get("/api/v1/pending", scoped("read"), async () => {
    const pending = deps.pairing.pending().map(joinRequestView);
    return { pending, count: pending.length };
  });

  // Bulk reject: a selection (all, or address / older_than / node combined); an empty one is refused.
  app.post("/api/v1/pending/reject", scoped("admin"), async (request) => {
    const body = parseBody(PendingSelectionSchema, request.body ?? {});
    const matches = pendingMatcher(body, Date.now());
    const selected = deps.pairing.selectPending(matches);
    const rejected = body.dry_run ? selected : deps.pairing.rejectMany(selected, body.reason ?? "rejected by admin", request.actor);
    const views = rejected.map(joinRequestView);
    return { rejected: views, count: views.length, dry_run: body.dry_run === true };
  });

  app.post<{ Params: { requestId: string } }>("/api/v1/pending/:requestId/approve", scoped("admin"), async (request) => {
    const result = deps.pairing.approve(request.params.requestId, request.actor);
    return { request: joinRequestView(result.request), node: result.node ? nodeView(result.node) : null };
  });

  app.post<{ Params: { requestId: string } }>("/api/v1/pending/:requestId/reject", scoped("admin"), async (request) => {
    const body = parseBody(RejectBody, request.body ?? undefined);
    const result = deps.pairing.reject(request.params.requestId, body?.reason ?? "rejected by admin", request.actor);
    return { request: joinRequestView(result.request) };
  });

  app.post("/api/v1/exec", scoped("exec"), async (request, reply) => {
    const body = parseBody(ExecBody, request.body);
    const timeoutMs = body.timeout_ms ?? deps.defaultTimeoutMs;
    const started = Date.now();
    let result;
    try {
      result = await deps.dispatcher.exec(body.node, body.command, timeoutMs);
    } catch (error) {
      const code = error instanceof FleetError ? error.code : "internal";
      deps.auditor.record({ actor: request.actor, action: "exec", node_id: body.node, command: body.command, status: code, duration_ms: Date.now() - started, detail: { ip: request.ip } });
      throw error;
    }
    deps.auditor.record({ actor: request.actor, action: "exec", node_id: result.node_id, command: body.command, status: result.status, exit_code: result.exit_code, duration_ms: result.duration_ms, detail: { ip: request.ip } });
    deps.metrics.execDuration.observe({ status: result.status }, (Date.now() - started) / 1000);
    deps.metrics.nodeResults.inc({ kind: "exec", status: result.status });
    if (result.status === "timeout") {
      return reply.code(504).send({ ...result, error: { code: "timeout", message: `command timed out after ${timeoutMs} ms and was killed` } });
    }
    return result;
  });

  app.post("/api/v1/broadcast", scoped("exec"), async (request) => {
    const body = parseBody(BroadcastBody, request.body);
    const outcome = await deps.dispatcher.broadcast(body.command, body.labels ?? {}, body.timeout_ms ?? deps.defaultTimeoutMs);
    deps.metrics.broadcastDuration.observe(outcome.summary.duration_ms / 1000);
    for (const result of outcome.results) deps.metrics.nodeResults.inc({ kind: "broadcast", status: result.status });
    deps.auditor.recordMany(
      outcome.results.map((result) => ({
        actor: request.actor,
        action: "broadcast",
        node_id: result.node_id,
        command: body.command,
        status: result.error?.code === "policy_denied" ? "policy_denied" : result.status,
        exit_code: result.exit_code,
        duration_ms: result.duration_ms,
        detail: { broadcast_id: outcome.id, ip: request.ip },
      })),
    );
    return outcome;
  });

  app.post("/api/v1/tokens", scoped("admin"), async (request, reply) => {
    const body = parseBody(TokenBody, request.body);
    const { token, record } = deps.tokens.create(body.name, body.scope, request.actor);
    deps.auditor.record({ actor: request.actor, action: "token.create", status: "ok", detail: { token_id: record.id, name: record.name, scope: record.scope } });
    return reply.code(201).send({ token, ...tokenView(record) });
  });

  app.get("/api/v1/tokens", scoped("admin"), async () => {
    const tokens = deps.tokens.list().map(tokenView);
    return { tokens, count: tokens.length };
  });

  app.delete<{ Params: { id: string } }>("/api/v1/tokens/:id", scoped("admin"), async (request) => {
    const record = deps.tokens.revoke(request.params.id);
    deps.auditor.record({ actor: request.actor, action: "token.revoke", status: "ok", detail: { token_id: record.id, name: record.name } });
    return { revoked: tokenView(record) };
  });

  app.get("/api/v1/audit", scoped("read"), async (request) => {
    const query = parseBody(AuditQuery, request.query);
    const entries = deps.audit
      .query({
        node: query.node,
        action: query.action,
        actor: query.actor,
        since: query.since ? parseTime(query.since, "since") : undefined,
        until: query.until ? parseTime(query.until, "until") : undefined,
        before: query.before,
        limit: query.limit,
      })
      .map(auditView);
    return { entries, count: entries.length };
  });

  return app;
}

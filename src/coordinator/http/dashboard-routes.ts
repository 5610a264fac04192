/**
 * The web dashboard on the coordinator's own port: the page and its assets (built by
 * `npm run build` into dist/dashboard; no CDN), the login link flow, the session, a live event
 * stream (Server-Sent Events pushing the fleet whenever it changes), a streaming broadcast
 * (results per node as they arrive, NDJSON), and /metrics.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { INSTALL_ROOT } from "../../config/load.js";
import { FleetError } from "../../protocol/errors.js";
import { LabelsSchema } from "../../protocol/messages.js";
import { cookieValue, SESSION_COOKIE, SESSION_TTL_MS, type Sessions } from "../sessions.js";
import type { HttpDeps } from "./server.js";
import { parseBody } from "./parse.js";
import { scoped } from "./access.js";
import { openEventStream } from "./sse.js";
import { auditView, joinRequestView, nodeView, taskView } from "./views.js";

export const DASHBOARD_DIR = join(INSTALL_ROOT, "dist", "dashboard");
const ASSETS: Record<string, string> = { "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8" };
const PUSH_MS = 1000;
/** Join requests a dashboard snapshot lists (the newest); the total is sent beside them. */
export const DASHBOARD_PENDING = 50;

const LinkQuery = z.strictObject({ t: z.string().min(10).max(200) });
const StreamBroadcastBody = z.strictObject({
  command: z.string().min(1).max(64 * 1024),
  labels: LabelsSchema.optional(),
  timeout_ms: z.number().int().min(1).max(24 * 3600 * 1000).optional(),
});

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("x-frame-options", "DENY")
    .header("cache-control", "no-store");
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><link rel="stylesheet" href="/assets/style.css"></head><body><main class="notice"><h1>${title}</h1>${body}</main></body></html>`;
}

export function registerDashboardRoutes(app: FastifyInstance, deps: HttpDeps & { sessions: Sessions }): void {
  app.get("/", scoped("public"), async (_request, reply) => {
    const file = join(DASHBOARD_DIR, "index.html");
    if (!existsSync(file)) return securityHeaders(reply).code(503).type("text/html; charset=utf-8").send(page("Dashboard not built", "<p>Run <code>npm run build</code> on the coordinator.</p>"));
    return securityHeaders(reply).type("text/html; charset=utf-8").send(readFileSync(file));
  });

  app.get<{ Params: { file: string } }>("/assets/:file", scoped("public"), async (request, reply) => {
    const type = ASSETS[request.params.file];
    const path = join(DASHBOARD_DIR, request.params.file);
    if (!type || !existsSync(path)) throw new FleetError("not_found", `no asset ${request.params.file}`);
    return securityHeaders(reply).type(type).send(readFileSync(path));
  });

  app.get("/login", scoped("public"), async (request, reply) => {
    const parsed = LinkQuery.safeParse(request.query);
    const session = parsed.success ? deps.sessions.consume(parsed.data.t) : undefined;
    if (!session) {
      deps.auditor.record({ actor: "unknown", action: "dashboard.login", status: "refused", detail: { ip: request.ip } });
      return securityHeaders(reply).code(401).type("text/html; charset=utf-8").send(page("Link used or expired", "<p>A login link works once, for two minutes. Run <code>ocf dashboard</code> for a new one.</p>"));
    }
    deps.auditor.record({ actor: session.actor, action: "dashboard.login", status: "ok", detail: { ip: request.ip, scope: session.scope } });
    const secure = deps.tls ? "; Secure" : "";
    return securityHeaders(reply)
      .header("set-cookie", `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}${secure}`)
      .redirect("/", 303);
  });

  app.post("/logout", { ...scoped("public"), bodyLimit: 1024 }, async (request, reply) => {
    const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
    if (id) deps.sessions.end(id);
    return reply.header("set-cookie", `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`).code(204).send();
  });

  app.get("/api/v1/session", scoped("read"), async (request) => {
    const session = deps.sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE));
    return { actor: request.actor, scope: request.scope, csrf: session?.csrf ?? null };
  });

  app.post("/api/v1/dashboard/link", scoped("read"), async (request, reply) => {
    const { token, expires } = deps.sessions.createLink(request.actor, request.scope);
    deps.auditor.record({ actor: request.actor, action: "dashboard.link", status: "ok", detail: { ip: request.ip, scope: request.scope } });
    return reply.code(201).send({ path: `/login?t=${token}`, expires_at: new Date(expires).toISOString(), scope: request.scope });
  });

  const snapshot = (request: FastifyRequest): Record<string, unknown> => ({
    nodes: deps.registry.list().map((node) => nodeView(node, deps.tasks.runningOn(node.id))),
    // The newest few: a flood of join requests must not make every push parse all of them.
    pending: deps.pairing.newestPending(DASHBOARD_PENDING).map(joinRequestView),
    pending_total: deps.pairing.pendingCount(),
    tasks: deps.tasks.list({ limit: 20 }).map((task) => taskView(task)),
    audit: deps.audit.query({ limit: 20 }).map(auditView),
    health: deps.health(),
    you: { actor: request.actor, scope: request.scope },
  });

  app.get("/api/v1/events", scoped("read"), async (request, reply) => {
    const stream = openEventStream(request, reply);
    let last = "";
    const push = (): void => {
      let data: string;
      try {
        const current = snapshot(request);
        // uptime changes every second: not a change worth sending.
        data = JSON.stringify({ ...current, health: { ...(current.health as object), uptime_s: 0 } });
        if (data === last) return;
        last = data;
        data = JSON.stringify(current);
      } catch (error) {
        deps.logger.warn({ err: (error as Error).message }, "dashboard snapshot failed");
        return;
      }
      stream.sendJson("snapshot", data);
    };
    push();
    const timer = setInterval(push, PUSH_MS);
    stream.onClose(() => clearInterval(timer));
  });

  app.post("/api/v1/broadcast/stream", scoped("exec"), async (request, reply) => {
    const body = parseBody(StreamBroadcastBody, request.body);
    const timeoutMs = body.timeout_ms ?? deps.defaultTimeoutMs;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" });
    const write = (value: unknown): void => {
      if (!raw.writableEnded) raw.write(`${JSON.stringify(value)}\n`);
    };
    try {
      const outcome = await deps.dispatcher.broadcast(body.command, body.labels ?? {}, timeoutMs, (result) => write({ type: "result", ...result }));
      deps.metrics.broadcastDuration.observe(outcome.summary.duration_ms / 1000);
      for (const result of outcome.results) deps.metrics.nodeResults.inc({ kind: "broadcast", status: result.status });
      deps.auditor.recordMany(
        outcome.results.map((result) => ({ actor: request.actor, action: "broadcast", node_id: result.node_id, command: body.command, status: result.status, exit_code: result.exit_code, duration_ms: result.duration_ms, detail: { broadcast_id: outcome.id, ip: request.ip } })),
      );
      write({ type: "summary", id: outcome.id, summary: outcome.summary });
    } catch (error) {
      write({ type: "error", error: { code: error instanceof FleetError ? error.code : "internal", message: (error as Error).message } });
    }
    raw.end();
  });

  app.get("/metrics", scoped("read"), async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.text()));
}

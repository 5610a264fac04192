/**
 * Who may call which route. Every route declares the scope it needs in its own options
 * (`scoped("exec")`), and the check reads that declaration from the route the router matched, so
 * the path a client spells (percent-encoded, `fil%65`, mixed case, trailing slash) can never pick
 * a weaker rule than the handler that runs. A route without a declaration needs `admin`; a path
 * no route matches needs a valid token before it learns it does not exist.
 *
 * The few routes without a token (`public`: /health, the enrollment door, the dashboard's page and
 * login link) go through the unauthenticated gate: few bodies at once per address and in all (the
 * oldest giving way to a new one), each read within a deadline, so slow or endless bodies can
 * neither hold the coordinator nor keep the door shut.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { FleetError } from "../../protocol/errors.js";
import type { TokenScope } from "../../storage/tokens.js";
import { cookieValue, SESSION_COOKIE, Sessions } from "../sessions.js";
import { scopeAllows, type TokenService } from "../tokens.js";
import type { Auditor } from "../audit.js";
import type { Logger } from "pino";
import { limited } from "../../util/logger.js";

/** What a route needs: a token scope, or nothing (`public`). */
export type RouteScope = TokenScope | "public";

/** One route as registered: method, path pattern and the scope it declares. */
export interface DeclaredRoute {
  method: string;
  url: string;
  scope: RouteScope;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every route registered so far with its declared scope (filled in by registerAccessControl). */
    routeTable: DeclaredRoute[];
  }
  interface FastifyContextConfig {
    /** The scope this route needs (see access.ts); undeclared means admin. */
    scope?: RouteScope;
  }
  interface FastifyRequest {
    /** Who is calling: `admin` for the admin token. */
    actor: string;
    /** What the caller may do (the token's or the dashboard session's scope). */
    scope: TokenScope;
  }
}

/** Route options declaring the scope a route needs. */
export function scoped(scope: RouteScope): { config: { scope: RouteScope } } {
  return { config: { scope } };
}

/** The scope the request's matched route declares; a path no route matches needs any valid token. */
export function routeScope(request: FastifyRequest): RouteScope {
  if (request.routeOptions.url === undefined) return "read";
  return request.routeOptions.config.scope ?? "admin";
}

/** Bodies read at once from callers without a token, per address and in all (the oldest gives way), and how long each may take. */
export const UNAUTHENTICATED_LIMITS = { perAddress: 8, total: 64, bodyDeadlineMs: 10_000 } as const;

/**
 * Bounds the requests that arrive without a token while their bodies are read: at most
 * `perAddress` per client address (429 past it) and `total` in all, each cut off after
 * `bodyDeadlineMs`. When all places are taken, a new request takes the place of the body that has
 * been unfinished longest (that connection is closed): a few addresses trickling bodies cannot keep
 * the door shut, since a real join's body arrives in milliseconds.
 */
export class UnauthenticatedGate {
  /** Unfinished bodies, oldest first (a Set keeps insertion order). */
  private readonly slots = new Set<{ address: string; cut: () => void; leave: () => void }>();
  private readonly perAddress = new Map<string, number>();
  /** Bodies cut off to make room for newer requests since start. */
  evicted = 0;

  constructor(private readonly limits: { perAddress: number; total: number; bodyDeadlineMs: number } = UNAUTHENTICATED_LIMITS) {}

  get inFlight(): number {
    return this.slots.size;
  }

  /**
   * Admit one request from `address` (throws rate_limited past the address's share); `cut` closes
   * its connection should a newer request need its place. The returned function lets it go, once.
   */
  enter(address: string, cut: () => void): () => void {
    const mine = this.perAddress.get(address) ?? 0;
    if (mine >= this.limits.perAddress) {
      throw new FleetError("rate_limited", `too many unfinished requests from ${address} without a token (at most ${this.limits.perAddress} at once); wait and try again`);
    }
    if (this.slots.size >= this.limits.total) {
      const oldest = this.slots.values().next().value;
      if (oldest) {
        oldest.leave();
        oldest.cut();
        this.evicted += 1;
      }
    }
    this.perAddress.set(address, mine + 1);
    let left = false;
    const slot = {
      address,
      cut,
      leave: (): void => {
        if (left) return;
        left = true;
        this.slots.delete(slot);
        const count = (this.perAddress.get(address) ?? 1) - 1;
        if (count <= 0) this.perAddress.delete(address);
        else this.perAddress.set(address, count);
      },
    };
    this.slots.add(slot);
    return slot.leave;
  }

  get bodyDeadlineMs(): number {
    return this.limits.bodyDeadlineMs;
  }
}

export interface AccessDeps {
  tokens: TokenService;
  sessions: Sessions;
  auditor: Auditor;
  logger: Logger;
  gate: UnauthenticatedGate;
  sendError: (reply: FastifyReply, code: "unauthorized" | "forbidden", message: string) => FastifyReply;
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== "string") return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** The path as the client sent it, cut short for messages and the audit trail. */
function shownPath(request: FastifyRequest): string {
  const path = request.url.split("?")[0] ?? "";
  return path.length > 200 ? `${path.slice(0, 200)}...` : path;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

type Identified = { actor: string; scope: TokenScope } | { refused: "unauthorized" | "forbidden"; message: string };

/**
 * Who is calling: the bearer token's holder, or else the dashboard session's (whose changes need
 * the page's CSRF token and the same origin). Refusals are audited here.
 */
function identify(request: FastifyRequest, deps: AccessDeps, path: string): Identified {
  const presented = bearer(request);
  if (presented !== undefined) {
    const caller = deps.tokens.authenticate(presented);
    if (caller) return caller;
    limited(deps.logger).warn("http.wrong-token", { ip: request.ip, url: path.slice(0, 256) }, "rejected request with a wrong token");
    deps.auditor.denied({ ip: request.ip, method: request.method, path, reason: "wrong token" });
    return { refused: "unauthorized", message: "invalid or revoked token" };
  }
  const session = deps.sessions.get(cookieValue(request.headers.cookie, SESSION_COOKIE));
  if (!session) {
    deps.auditor.denied({ ip: request.ip, method: request.method, path, reason: "missing token" });
    return { refused: "unauthorized", message: "missing Authorization: Bearer <token> header (the admin token is in the coordinator's state dir: admin.token)" };
  }
  if (!SAFE_METHODS.has(request.method)) {
    const origin = request.headers.origin;
    const host = request.headers.host;
    const sameOrigin = origin === undefined || (host !== undefined && (origin === `http://${host}` || origin === `https://${host}`));
    const csrf = request.headers["x-ocf-csrf"];
    if (!sameOrigin || !Sessions.csrfOk(session, typeof csrf === "string" ? csrf : undefined)) {
      deps.auditor.denied({ ip: request.ip, method: request.method, path, reason: "cross-site or missing CSRF token", actor: session.actor });
      return { refused: "forbidden", message: "cross-site request refused: a dashboard request that changes something needs the page's x-ocf-csrf header and the same origin" };
    }
  }
  return { actor: session.actor, scope: session.scope };
}

/**
 * Authenticate every request (bearer token or dashboard session) against its matched route's
 * declared scope, and put public requests with a body through the unauthenticated gate.
 */
export function registerAccessControl(app: FastifyInstance, deps: AccessDeps): void {
  app.decorateRequest("actor", "unknown");
  app.decorateRequest("scope", "read");
  app.decorateRequest("bodyReceived", undefined);

  // A route must say who may call it: refuse to start with one that does not.
  const table: DeclaredRoute[] = [];
  app.decorate("routeTable", table);
  app.addHook("onRoute", (route) => {
    const scope = route.config?.scope;
    if (scope === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no scope (use scoped(...))`);
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) table.push({ method: String(method), url: route.url, scope });
  });

  app.addHook("onRequest", async (request, reply) => {
    const need = routeScope(request);
    if (need === "public") {
      guardUnauthenticatedBody(request, reply, deps.gate, deps.logger);
      return;
    }
    const path = shownPath(request);
    const caller = identify(request, deps, path);
    if ("refused" in caller) return deps.sendError(reply, caller.refused, caller.message);
    if (!scopeAllows(caller.scope, need)) {
      deps.auditor.denied({ ip: request.ip, method: request.method, path, reason: `scope ${caller.scope} < ${need}`, actor: caller.actor });
      return deps.sendError(reply, "forbidden", `${caller.actor} has scope "${caller.scope}"; ${request.method} ${path} needs "${need}"`);
    }
    request.actor = caller.actor;
    request.scope = caller.scope;
  });

  // The body is in once validation starts: give back the gate's slot (a long poll that follows holds none).
  app.addHook("preValidation", async (request) => {
    request.bodyReceived?.();
  });
}

/**
 * A request without a token that carries a body: admitted through the gate (429/503 past its
 * limits) and cut off when the body is not in within the deadline. The slot is given back once
 * the body is read (a long poll that follows holds none) or the connection ends.
 */
function guardUnauthenticatedBody(request: FastifyRequest, reply: FastifyReply, gate: UnauthenticatedGate, logger: Logger): void {
  const length = request.headers["content-length"];
  const chunked = request.headers["transfer-encoding"] !== undefined;
  if (!chunked && (length === undefined || length === "0")) return;
  const leave = gate.enter(request.ip, () => request.raw.destroy());
  const timer = setTimeout(() => {
    leave();
    limited(logger).warn("http.slow-body", { ip: request.ip, url: shownPath(request) }, "request body without a token not received in time; connection closed");
    request.raw.destroy();
  }, gate.bodyDeadlineMs);
  timer.unref();
  const done = (): void => {
    clearTimeout(timer);
    leave();
  };
  // The body is in once validation starts; the connection may also end before.
  request.bodyReceived = done;
  reply.raw.once("close", done);
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set for a public request whose body is being read: call once the body is in. */
    bodyReceived?: () => void;
  }
}


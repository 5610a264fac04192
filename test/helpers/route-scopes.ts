/** The scope every HTTP route needs, as docs/API.md documents it: the expectation of the access tests. */
import type { RouteScope } from "../../src/coordinator/http/access.js";

/** The documented scope of every route (docs/API.md, "Scopes"). HEAD follows GET. */
export const DOCUMENTED: Record<string, RouteScope> = {
  "GET /health": "public",
  "POST /api/v1/enroll": "public",
  "GET /": "public",
  "GET /assets/:file": "public",
  "GET /login": "public",
  "POST /logout": "public",
  "GET /api/v1/nodes": "read",
  "GET /api/v1/nodes/:id": "read",
  "DELETE /api/v1/nodes/:id": "admin",
  "POST /api/v1/nodes/:id/rotate": "admin",
  "GET /api/v1/pending": "read",
  "POST /api/v1/pending/:requestId/approve": "admin",
  "POST /api/v1/pending/:requestId/reject": "admin",
  "POST /api/v1/exec": "exec",
  "POST /api/v1/broadcast": "exec",
  "POST /api/v1/broadcast/stream": "exec",
  "POST /api/v1/tokens": "admin",
  "GET /api/v1/tokens": "admin",
  "DELETE /api/v1/tokens/:id": "admin",
  "GET /api/v1/audit": "read",
  "POST /api/v1/nodes/:id/screenshot": "exec",
  "POST /api/v1/nodes/:id/camera": "exec",
  "GET /api/v1/nodes/:id/file": "exec",
  "PUT /api/v1/nodes/:id/file": "exec",
  "GET /api/v1/nodes/:id/info": "read",
  "GET /api/v1/files/:id": "read",
  "GET /api/v1/nodes/:id/skills": "read",
  "GET /api/v1/skills": "read",
  "POST /api/v1/nodes/:id/skills/:skill/run": "exec",
  "POST /api/v1/tasks": "exec",
  "GET /api/v1/tasks": "read",
  "GET /api/v1/tasks/:id": "read",
  "GET /api/v1/tasks/:id/output": "read",
  "POST /api/v1/tasks/:id/cancel": "exec",
  "GET /api/v1/tasks/:id/stream": "read",
  "GET /api/v1/session": "read",
  "POST /api/v1/dashboard/link": "read",
  "GET /api/v1/events": "read",
  "GET /metrics": "read",
};

/** The documented scope of `method` on a path pattern (HEAD follows GET), or undefined for no route. */
export function documentedScope(method: string, pattern: string): RouteScope | undefined {
  return DOCUMENTED[`${method === "HEAD" ? "GET" : method} ${pattern}`];
}

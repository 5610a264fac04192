/**
 * The scope every HTTP route needs, read from the "Scopes" table of docs/API.md: the access tests
 * check the running coordinator against the documentation, so neither can drift alone.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { RouteScope } from "../../src/coordinator/http/access.js";
import { REPO_ROOT } from "./fleet.js";

function readDocumentedScopes(): Record<string, RouteScope> {
  const text = readFileSync(join(REPO_ROOT, "docs", "API.md"), "utf8");
  const section = text.split(/^## Scopes$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error("docs/API.md has no '## Scopes' section");
  const table: Record<string, RouteScope> = {};
  for (const line of section.split("\n")) {
    const row = /^\| (GET|POST|PUT|DELETE|PATCH) \| `([^`]+)` \| (public|read|exec|admin)\b/.exec(line);
    if (row) table[`${row[1]} ${row[2]}`] = row[3] as RouteScope;
  }
  if (Object.keys(table).length < 10) throw new Error("docs/API.md's Scopes table has fewer than 10 routes: is its format still `| METHOD | `path` | scope |`?");
  return table;
}

/** "METHOD /path/:param" → its documented scope. */
export const DOCUMENTED: Record<string, RouteScope> = readDocumentedScopes();

/** The documented scope of `method` on a path pattern (HEAD follows GET), or undefined for no route. */
export function documentedScope(method: string, pattern: string): RouteScope | undefined {
  return DOCUMENTED[`${method === "HEAD" ? "GET" : method} ${pattern}`];
}

/**
 * Dashboard logins without pasting a token into a page: `ocf dashboard` asks for a one-time link
 * (valid 2 minutes, with the scope of the token that asked); following it opens a session kept in
 * an HttpOnly, SameSite=Strict cookie. Every state-changing request made with the cookie must also
 * carry the session's CSRF token in `x-ocf-csrf`. Sessions live in memory: a restarted coordinator
 * asks for a new link.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { FleetError } from "../protocol/errors.js";
import type { TokenScope } from "../storage/tokens.js";

export const LINK_TTL_MS = 2 * 60 * 1000;
export const SESSION_TTL_MS = 12 * 3600 * 1000;
export const SESSION_COOKIE = "ocf_session";
const MAX_LINKS = 1000;
const MAX_SESSIONS = 1000;
/** Unused links one caller (token) may hold: more is 429, so no caller can use up everyone's. */
export const LINKS_PER_ACTOR = 10;
/** Sessions one caller may hold: a new one ends that caller's oldest, never someone else's. */
export const SESSIONS_PER_ACTOR = 20;

export interface Session {
  id: string;
  actor: string;
  scope: TokenScope;
  csrf: string;
  expires: number;
}

const digest = (value: string): string => createHash("sha256").update(value).digest("hex");

export class Sessions {
  private readonly links = new Map<string, { actor: string; scope: TokenScope; expires: number }>();
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A one-time login secret for `actor` with `scope`. Only its hash is kept. Throws rate_limited past the limits. */
  createLink(actor: string, scope: TokenScope): { token: string; expires: number } {
    this.prune();
    const mine = [...this.links.values()].filter((link) => link.actor === actor).length;
    if (mine >= LINKS_PER_ACTOR) throw new FleetError("rate_limited", `${actor} already holds ${mine} unused login links (at most ${LINKS_PER_ACTOR}); use one, or wait two minutes until they expire`);
    if (this.links.size >= MAX_LINKS) throw new FleetError("rate_limited", "too many unused login links; wait two minutes");
    const token = randomBytes(32).toString("base64url");
    const expires = this.now() + LINK_TTL_MS;
    this.links.set(digest(token), { actor, scope, expires });
    return { token, expires };
  }

  /**
   * Use a link: a new session, or undefined when it is unknown, used or expired. A caller's
   * sessions beyond SESSIONS_PER_ACTOR end its own oldest; when all places are taken, the oldest
   * session of the caller holding the most gives way, so one caller cannot log everyone else out.
   */
  consume(token: string): Session | undefined {
    const key = digest(token);
    const link = this.links.get(key);
    this.links.delete(key);
    if (!link || link.expires < this.now()) return undefined;
    this.prune();
    const actor = `dashboard:${link.actor}`;
    const byActor = new Map<string, Session[]>();
    for (const session of this.sessions.values()) byActor.set(session.actor, [...(byActor.get(session.actor) ?? []), session]);
    const mine = byActor.get(actor) ?? [];
    let evict: Session | undefined;
    if (mine.length >= SESSIONS_PER_ACTOR) evict = mine[0];
    else if (this.sessions.size >= MAX_SESSIONS) evict = [...byActor.values()].sort((a, b) => b.length - a.length)[0]?.[0];
    if (evict) this.sessions.delete(evict.id);
    const session: Session = { id: randomBytes(32).toString("base64url"), actor, scope: link.scope, csrf: randomBytes(24).toString("base64url"), expires: this.now() + SESSION_TTL_MS };
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expires < this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  static csrfOk(session: Session, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private prune(): void {
    const now = this.now();
    for (const [key, link] of this.links) if (link.expires < now) this.links.delete(key);
    for (const [id, session] of this.sessions) if (session.expires < now) this.sessions.delete(id);
  }
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

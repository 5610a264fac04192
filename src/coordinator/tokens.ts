/**
 * Who may call the API. The admin token (file, 0600) can do everything; extra tokens carry a scope:
 * `read` (health, lists, audit), `exec` (read + exec and broadcast), `admin` (everything, pairing
 * and token management included). Each route declares the scope it needs (http/access.ts). Tokens look like `ocft_<id>.<secret>`; only a SHA-256 of the
 * secret is stored, and comparisons are constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { FleetError } from "../protocol/errors.js";
import type { TokenRecord, TokenRepository, TokenScope } from "../storage/tokens.js";
import { tokensEqual } from "./admin-token.js";

export interface Caller {
  actor: string;
  scope: TokenScope;
}

const RANK: Record<TokenScope, number> = { read: 1, exec: 2, admin: 3 };
/** last_used_at is written at most this often per token. */
const USED_WRITE_INTERVAL_MS = 60_000;

const sha256 = (value: string): string => createHash("sha256").update(value).digest("hex");

export function scopeAllows(have: TokenScope, need: TokenScope): boolean {
  return RANK[have] >= RANK[need];
}

export class TokenService {
  constructor(
    private readonly repo: TokenRepository,
    private readonly adminToken: () => string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Identify the caller of a presented bearer token, or undefined when it is not valid. */
  authenticate(presented: string): Caller | undefined {
    if (tokensEqual(presented, this.adminToken())) return { actor: "admin", scope: "admin" };
    const match = /^ocft_([0-9a-f]{8})\.([A-Za-z0-9_-]{20,100})$/.exec(presented);
    if (!match) return undefined;
    const record = this.repo.get(match[1] as string);
    if (!record || record.revoked_at !== null) return undefined;
    const expected = Buffer.from(record.hash, "hex");
    const actual = Buffer.from(sha256(match[2] as string), "hex");
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    const at = this.now();
    if (record.last_used_at === null || at - record.last_used_at > USED_WRITE_INTERVAL_MS) this.repo.markUsed(record.id, at);
    return { actor: `token:${record.name}`, scope: record.scope };
  }

  create(name: string, scope: TokenScope, by: string): { token: string; record: TokenRecord } {
    if (this.repo.byName(name)) throw new FleetError("conflict", `a token named "${name}" already exists`);
    const id = randomBytes(4).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const record: TokenRecord = { id, name, scope, hash: sha256(secret), created_at: this.now(), created_by: by, last_used_at: null, revoked_at: null };
    this.repo.insert(record);
    return { token: `ocft_${id}.${secret}`, record };
  }

  list(): TokenRecord[] {
    return this.repo.list();
  }

  /** Revoke by id or name. */
  revoke(ref: string): TokenRecord {
    const record = this.repo.get(ref) ?? this.repo.byName(ref);
    if (!record) throw new FleetError("not_found", `no token "${ref}"`);
    if (record.revoked_at !== null) throw new FleetError("conflict", `token "${record.name}" is already revoked`);
    const at = this.now();
    this.repo.revoke(record.id, at);
    return { ...record, revoked_at: at };
  }
}

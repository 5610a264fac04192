/** API tokens with scopes. Only a SHA-256 hash of each secret is stored. */
import type { SqliteDatabase } from "./database.js";

export const TOKEN_SCOPES = ["read", "exec", "admin"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface TokenRecord {
  id: string;
  name: string;
  scope: TokenScope;
  hash: string;
  created_at: number;
  created_by: string;
  last_used_at: number | null;
  revoked_at: number | null;
}

export class TokenRepository {
  private readonly statements;

  constructor(db: SqliteDatabase) {
    this.statements = {
      insert: db.prepare(`INSERT INTO tokens (id, name, scope, hash, created_at, created_by, last_used_at, revoked_at)
                          VALUES (@id, @name, @scope, @hash, @created_at, @created_by, @last_used_at, @revoked_at)`),
      byId: db.prepare<[string], TokenRecord>("SELECT * FROM tokens WHERE id = ?"),
      byName: db.prepare<[string], TokenRecord>("SELECT * FROM tokens WHERE name = ?"),
      list: db.prepare<[], TokenRecord>("SELECT * FROM tokens ORDER BY created_at"),
      revoke: db.prepare<[number, string]>("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"),
      used: db.prepare<[number, string]>("UPDATE tokens SET last_used_at = ? WHERE id = ?"),
    };
  }

  insert(record: TokenRecord): void {
    this.statements.insert.run(record);
  }

  get(id: string): TokenRecord | undefined {
    return this.statements.byId.get(id);
  }

  byName(name: string): TokenRecord | undefined {
    return this.statements.byName.get(name);
  }

  list(): TokenRecord[] {
    return this.statements.list.all();
  }

  revoke(id: string, at: number): boolean {
    return this.statements.revoke.run(at, id).changes > 0;
  }

  markUsed(id: string, at: number): void {
    this.statements.used.run(at, id);
  }
}

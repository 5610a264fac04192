/** Append-only audit trail: who did what to which node, with what result. */
import type { SqliteDatabase } from "./database.js";

export interface AuditEntry {
  ts: number;
  /** Who: `admin` (the admin token), `token:<name>`, `auto_approve`, `ocf-up`, `unknown`. */
  actor: string;
  /** What: pairing.pending, pairing.approve, pairing.reject, pairing.refused, node.remove, exec, broadcast, auth.denied. */
  action: string;
  node_id?: string | null;
  command?: string | null;
  /** Outcome: ok, error, timeout, offline, or an error code such as policy_denied. */
  status?: string | null;
  exit_code?: number | null;
  duration_ms?: number | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditRecord extends AuditEntry {
  id: number;
}

export interface AuditQuery {
  node?: string | undefined;
  action?: string | undefined;
  actor?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  /** Only entries with an id below this (paging backwards). */
  before?: number | undefined;
  limit: number;
}

interface AuditRow extends Omit<AuditRecord, "detail"> {
  detail: string | null;
}

/** Commands are stored as sent, but at most this long. */
const MAX_COMMAND = 4096;

export class AuditRepository {
  private readonly insert;

  constructor(private readonly db: SqliteDatabase) {
    this.insert = db.prepare(`
      INSERT INTO audit (ts, actor, action, node_id, command, status, exit_code, duration_ms, detail)
      VALUES (@ts, @actor, @action, @node_id, @command, @status, @exit_code, @duration_ms, @detail)`);
  }

  /** Record many entries in one transaction (a broadcast to many nodes). */
  recordMany(entries: readonly AuditEntry[]): number[] {
    return this.db.transaction((batch: readonly AuditEntry[]) => batch.map((entry) => this.record(entry)))(entries);
  }

  record(entry: AuditEntry): number {
    const result = this.insert.run({
      ts: entry.ts,
      actor: entry.actor,
      action: entry.action,
      node_id: entry.node_id ?? null,
      command: entry.command === undefined || entry.command === null ? null : entry.command.slice(0, MAX_COMMAND),
      status: entry.status ?? null,
      exit_code: entry.exit_code ?? null,
      duration_ms: entry.duration_ms ?? null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
    });
    return Number(result.lastInsertRowid);
  }

  query(query: AuditQuery): AuditRecord[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: query.limit };
    const add = (clause: string, key: string, value: unknown): void => {
      if (value === undefined) return;
      where.push(clause);
      params[key] = value;
    };
    add("node_id = @node", "node", query.node);
    add("action = @action", "action", query.action);
    add("actor = @actor", "actor", query.actor);
    add("ts >= @since", "since", query.since);
    add("ts <= @until", "until", query.until);
    add("id < @before", "before", query.before);
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT @limit`;
    return (this.db.prepare(sql).all(params) as AuditRow[]).map((row) => ({ ...row, detail: row.detail ? (JSON.parse(row.detail) as Record<string, unknown>) : null }));
  }
}

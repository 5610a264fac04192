/** Repository of join requests: pending, approved or rejected, one row per (node id, public key). */
import type { JoinPayload, JoinStatus } from "../protocol/messages.js";
import type { SqliteDatabase } from "./database.js";

export interface JoinRequestRecord {
  request_id: string;
  node_id: string;
  public_key: string;
  payload: JoinPayload;
  status: JoinStatus;
  reason: string | null;
  created_at: number;
  /** When the worker last asked (each join refreshes it). */
  updated_at: number;
  decided_at: number | null;
  /** The client address the request last came from (HTTP), or null (NATS, or before it was recorded). */
  address: string | null;
}

interface JoinRequestRow extends Omit<JoinRequestRecord, "payload"> {
  payload: string;
}

function fromRow(row: JoinRequestRow): JoinRequestRecord {
  return { ...row, payload: JSON.parse(row.payload) as JoinPayload, address: row.address ?? null };
}

export class JoinRequestRepository {
  private readonly statements;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = {
      byId: db.prepare<[string], JoinRequestRow>("SELECT * FROM join_requests WHERE request_id = ?"),
      byKey: db.prepare<[string, string], JoinRequestRow>("SELECT * FROM join_requests WHERE node_id = ? AND public_key = ?"),
      byNode: db.prepare<[string], JoinRequestRow>("SELECT * FROM join_requests WHERE node_id = ? ORDER BY created_at"),
      byStatus: db.prepare<[string], JoinRequestRow>("SELECT * FROM join_requests WHERE status = ? ORDER BY created_at"),
      newestPending: db.prepare<[number], JoinRequestRow>("SELECT * FROM join_requests WHERE status = 'pending' ORDER BY updated_at DESC LIMIT ?"),
      insert: db.prepare(`
        INSERT INTO join_requests (request_id, node_id, public_key, payload, status, reason, created_at, updated_at, decided_at, address)
        VALUES (@request_id, @node_id, @public_key, @payload, @status, @reason, @created_at, @updated_at, @decided_at, @address)`),
      refresh: db.prepare<[string, number, string | null, string]>("UPDATE join_requests SET payload = ?, updated_at = ?, address = COALESCE(?, address) WHERE request_id = ?"),
      countPending: db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM join_requests WHERE status = 'pending'"),
      countPendingFrom: db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM join_requests WHERE status = 'pending' AND address = ?"),
      staleSince: db.prepare<[number], JoinRequestRow>("SELECT * FROM join_requests WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at"),
      remove: db.prepare<[string]>("DELETE FROM join_requests WHERE request_id = ?"),
      decide: db.prepare<[string, string | null, number, number, string]>(
        "UPDATE join_requests SET status = ?, reason = ?, decided_at = ?, updated_at = ? WHERE request_id = ?",
      ),
    };
  }

  get(requestId: string): JoinRequestRecord | undefined {
    const row = this.statements.byId.get(requestId);
    return row ? fromRow(row) : undefined;
  }

  findByKey(nodeId: string, publicKey: string): JoinRequestRecord | undefined {
    const row = this.statements.byKey.get(nodeId, publicKey);
    return row ? fromRow(row) : undefined;
  }

  forNode(nodeId: string): JoinRequestRecord[] {
    return this.statements.byNode.all(nodeId).map(fromRow);
  }

  listByStatus(status: JoinStatus): JoinRequestRecord[] {
    return this.statements.byStatus.all(status).map(fromRow);
  }

  /** The `limit` pending requests asked about most recently. */
  newestPending(limit: number): JoinRequestRecord[] {
    return this.statements.newestPending.all(limit).map(fromRow);
  }

  insert(record: JoinRequestRecord): void {
    this.statements.insert.run({ ...record, payload: JSON.stringify(record.payload) });
  }

  /** The worker asked again: its latest payload, the time, and the address it asked from (kept when null). */
  refresh(requestId: string, payload: JoinPayload, now: number, address: string | null = null): void {
    this.statements.refresh.run(JSON.stringify(payload), now, address, requestId);
  }

  decide(requestId: string, status: JoinStatus, reason: string | null, now: number): void {
    this.statements.decide.run(status, reason, now, now, requestId);
  }

  /** Decide several requests in one transaction. */
  decideMany(requestIds: readonly string[], status: JoinStatus, reason: string | null, now: number): void {
    this.db.transaction(() => {
      for (const id of requestIds) this.statements.decide.run(status, reason, now, now, id);
    })();
  }

  countPending(): number {
    return this.statements.countPending.get()?.n ?? 0;
  }

  countPendingFrom(address: string): number {
    return this.statements.countPendingFrom.get(address)?.n ?? 0;
  }

  /** Pending requests whose worker last asked before `cutoff` (ms), oldest first. */
  pendingNotAskedSince(cutoff: number): JoinRequestRecord[] {
    return this.statements.staleSince.all(cutoff).map(fromRow);
  }

  /** Forget requests (expired): a worker that asks again starts a new one. */
  removeMany(requestIds: readonly string[]): void {
    this.db.transaction(() => {
      for (const id of requestIds) this.statements.remove.run(id);
    })();
  }
}

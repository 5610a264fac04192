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
  updated_at: number;
  decided_at: number | null;
}

interface JoinRequestRow extends Omit<JoinRequestRecord, "payload"> {
  payload: string;
}

function fromRow(row: JoinRequestRow): JoinRequestRecord {
  return { ...row, payload: JSON.parse(row.payload) as JoinPayload };
}

export class JoinRequestRepository {
  private readonly statements;

  constructor(db: SqliteDatabase) {
    this.statements = {
      byId: db.prepare<[string], JoinRequestRow>("SELECT * FROM join_requests WHERE request_id = ?"),
      byKey: db.prepare<[string, string], JoinRequestRow>("SELECT * FROM join_requests WHERE node_id = ? AND public_key = ?"),
      byNode: db.prepare<[string], JoinRequestRow>("SELECT * FROM join_requests WHERE node_id = ? ORDER BY created_at"),
      byStatus: db.prepare<[string], JoinRequestRow>("SELECT * FROM join_requests WHERE status = ? ORDER BY created_at"),
      insert: db.prepare(`
        INSERT INTO join_requests (request_id, node_id, public_key, payload, status, reason, created_at, updated_at, decided_at)
        VALUES (@request_id, @node_id, @public_key, @payload, @status, @reason, @created_at, @updated_at, @decided_at)`),
      refresh: db.prepare<[string, number, string]>("UPDATE join_requests SET payload = ?, updated_at = ? WHERE request_id = ?"),
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

  insert(record: JoinRequestRecord): void {
    this.statements.insert.run({ ...record, payload: JSON.stringify(record.payload) });
  }

  refresh(requestId: string, payload: JoinPayload, now: number): void {
    this.statements.refresh.run(JSON.stringify(payload), now, requestId);
  }

  decide(requestId: string, status: JoinStatus, reason: string | null, now: number): void {
    this.statements.decide.run(status, reason, now, now, requestId);
  }
}

/** Repository of approved nodes. */
import type { Labels, Load } from "../protocol/messages.js";
import type { SqliteDatabase } from "./database.js";

export interface NodeRecord {
  id: string;
  name: string;
  public_key: string;
  hostname: string;
  os: string;
  arch: string;
  ips: string[];
  labels: Labels;
  capabilities: string[];
  version: string;
  max_concurrent_tasks: number;
  approved_at: number;
  last_seen: number | null;
  load: Load | null;
  status: NodeStatus;
}

export type NodeStatus = "online" | "offline";

interface NodeRow {
  id: string;
  name: string;
  public_key: string;
  hostname: string;
  os: string;
  arch: string;
  ips: string;
  labels: string;
  capabilities: string;
  version: string;
  max_concurrent_tasks: number;
  approved_at: number;
  last_seen: number | null;
  load: string | null;
  status: NodeStatus;
}

function fromRow(row: NodeRow): NodeRecord {
  return {
    ...row,
    ips: JSON.parse(row.ips) as string[],
    labels: JSON.parse(row.labels) as Labels,
    capabilities: JSON.parse(row.capabilities) as string[],
    load: row.load ? (JSON.parse(row.load) as Load) : null,
  };
}

export interface SeenUpdate {
  id: string;
  last_seen: number;
  load: Load;
}

export class NodeRepository {
  private readonly statements;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = {
      get: db.prepare<[string], NodeRow>("SELECT * FROM nodes WHERE id = ?"),
      list: db.prepare<[], NodeRow>("SELECT * FROM nodes ORDER BY id"),
      upsert: db.prepare(`
        INSERT INTO nodes (id, name, public_key, hostname, os, arch, ips, labels, capabilities, version,
                           max_concurrent_tasks, approved_at, last_seen, load, status)
        VALUES (@id, @name, @public_key, @hostname, @os, @arch, @ips, @labels, @capabilities, @version,
                @max_concurrent_tasks, @approved_at, @last_seen, @load, @status)
        ON CONFLICT(id) DO UPDATE SET name = excluded.name, public_key = excluded.public_key,
          hostname = excluded.hostname, os = excluded.os, arch = excluded.arch, ips = excluded.ips,
          labels = excluded.labels, capabilities = excluded.capabilities, version = excluded.version,
          max_concurrent_tasks = excluded.max_concurrent_tasks`),
      remove: db.prepare<[string]>("DELETE FROM nodes WHERE id = ?"),
      seen: db.prepare<[number, string, string]>("UPDATE nodes SET last_seen = ?, load = ? WHERE id = ?"),
      status: db.prepare<[string, string]>("UPDATE nodes SET status = ? WHERE id = ?"),
    };
  }

  get(id: string): NodeRecord | undefined {
    const row = this.statements.get.get(id);
    return row ? fromRow(row) : undefined;
  }

  list(): NodeRecord[] {
    return this.statements.list.all().map(fromRow);
  }

  upsert(node: NodeRecord): void {
    this.statements.upsert.run({
      ...node,
      ips: JSON.stringify(node.ips),
      labels: JSON.stringify(node.labels),
      capabilities: JSON.stringify(node.capabilities),
      load: node.load ? JSON.stringify(node.load) : null,
    });
  }

  remove(id: string): boolean {
    return this.statements.remove.run(id).changes > 0;
  }

  setStatus(id: string, status: NodeStatus): void {
    this.statements.status.run(status, id);
  }

  /** Persist liveness for many nodes in one transaction (heartbeats are batched). */
  recordSeen(updates: readonly SeenUpdate[]): void {
    if (updates.length === 0) return;
    const run = this.db.transaction((batch: readonly SeenUpdate[]) => {
      for (const update of batch) this.statements.seen.run(update.last_seen, JSON.stringify(update.load), update.id);
    });
    run(updates);
  }
}

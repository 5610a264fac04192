/** Schema migrations, applied in order; `PRAGMA user_version` records how many ran. Never edit a shipped step. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE nodes (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    public_key           TEXT NOT NULL,
    hostname             TEXT NOT NULL DEFAULT '',
    os                   TEXT NOT NULL DEFAULT '',
    arch                 TEXT NOT NULL DEFAULT '',
    ips                  TEXT NOT NULL DEFAULT '[]',
    labels               TEXT NOT NULL DEFAULT '{}',
    capabilities         TEXT NOT NULL DEFAULT '[]',
    version              TEXT NOT NULL DEFAULT '',
    max_concurrent_tasks INTEGER NOT NULL DEFAULT 1,
    approved_at          INTEGER NOT NULL,
    last_seen            INTEGER,
    load                 TEXT,
    status               TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'offline'))
  );
  CREATE INDEX nodes_name ON nodes(name);
  CREATE TABLE join_requests (
    request_id  TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    UNIQUE (node_id, public_key)
  );
  CREATE INDEX join_requests_status ON join_requests(status);
  `,
  `
  CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    node_id     TEXT,
    command     TEXT,
    status      TEXT,
    exit_code   INTEGER,
    duration_ms REAL,
    detail      TEXT
  );
  CREATE INDEX audit_ts ON audit(ts);
  CREATE INDEX audit_node ON audit(node_id, ts);
  CREATE INDEX audit_action ON audit(action, ts);
  `,
  `
  CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    scope        TEXT NOT NULL CHECK (scope IN ('read', 'exec', 'admin')),
    hash         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
  );
  `,
];

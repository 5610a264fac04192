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
  `
  CREATE TABLE tasks (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('command', 'skill')),
    command          TEXT,
    skill            TEXT,
    params           TEXT,
    target           TEXT NOT NULL,
    requirements     TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    timeout_ms       INTEGER NOT NULL,
    max_retries      INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state IN ('queued', 'assigned', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'lost')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    node_id          TEXT,
    exit_code        INTEGER,
    reason           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    submitted_by     TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
  );
  CREATE INDEX tasks_state ON tasks(state, priority DESC, seq);
  CREATE INDEX tasks_node ON tasks(node_id, seq);
  CREATE INDEX tasks_finished ON tasks(finished_at);
  CREATE TABLE task_attempts (
    task_id     TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    node_id     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('assigned', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'lost', 'rejected')),
    assigned_at INTEGER NOT NULL,
    started_at  INTEGER,
    finished_at INTEGER,
    exit_code   INTEGER,
    signal      TEXT,
    stdout      TEXT,
    stderr      TEXT,
    truncated   INTEGER NOT NULL DEFAULT 0,
    output_file INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    PRIMARY KEY (task_id, attempt)
  );
  CREATE INDEX task_attempts_active ON task_attempts(state) WHERE state IN ('assigned', 'running');
  `,
  `
  ALTER TABLE join_requests ADD COLUMN address TEXT;
  CREATE INDEX join_requests_pending_address ON join_requests(address) WHERE status = 'pending';
  `,
];

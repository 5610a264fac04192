/** Open the SQLite database (WAL) and bring its schema up to date. */
import { accessSync, constants, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS } from "./migrations.js";

export type SqliteDatabase = Database.Database;

export function openDatabase(path: string): SqliteDatabase {
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Refuse a read-only database before SQLite touches it (a read-only WAL database is not safe to open for writing).
    try {
      accessSync(dirname(path), constants.W_OK);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) accessSync(file, constants.W_OK);
    } catch (error) {
      throw new Error(`the database ${path} is not writable (${(error as NodeJS.ErrnoException).code ?? "error"}): mount its disk read-write and make its folder writable for this user (storage.path)`, { cause: error });
    }
  }
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

export function migrate(db: SqliteDatabase): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this software knows (${MIGRATIONS.length}); upgrade OpenClaw Federation`);
  }
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    const step = MIGRATIONS[version] as string;
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** A cheap liveness probe of the database (for /health): true when a query answers. */
export function databaseOk(db: SqliteDatabase): boolean {
  try {
    return db.open && (db.prepare("SELECT 1 AS one").get() as { one?: number } | undefined)?.one === 1;
  } catch {
    return false;
  }
}

/** `PRAGMA integrity_check`: true when the database file is sound (slow on big files). */
export function databaseIntact(db: SqliteDatabase): boolean {
  const row = db.prepare("PRAGMA integrity_check").get() as { integrity_check?: string } | undefined;
  return row?.integrity_check === "ok";
}

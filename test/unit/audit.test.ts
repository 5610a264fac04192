import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Auditor, LIMITED_PER_MINUTE } from "../../src/coordinator/audit.js";
import { AuditRepository } from "../../src/storage/audit.js";
import { migrate, openDatabase } from "../../src/storage/database.js";
import { createAuditFile, silentLogger } from "../../src/util/logger.js";
import { tempDir } from "../helpers/fleet.js";

test("actions outsiders can cause are recorded at most LIMITED_PER_MINUTE a minute each, and the next entry counts the rest", () => {
  const dir = tempDir();
  try {
    const db = openDatabase(join(dir.path, "audit.db"));
    migrate(db);
    const repo = new AuditRepository(db);
    let now = 1_000_000;
    const auditor = new Auditor(repo, createAuditFile(undefined), silentLogger(), () => now);
    for (let i = 0; i < 1000; i += 1) auditor.record({ actor: "unknown", action: "pairing.refused", node_id: "vm", status: "identity_mismatch" });
    for (let i = 0; i < 100; i += 1) auditor.denied({ ip: "127.0.0.9", reason: "wrong token" });
    // A refused login link is limited too (anyone can send junk to /login); a good login never is.
    for (let i = 0; i < 100; i += 1) auditor.record({ actor: "unknown", action: "dashboard.login", status: "refused" });
    for (let i = 0; i < 40; i += 1) auditor.record({ actor: "dashboard:admin", action: "dashboard.login", status: "ok" });
    auditor.record({ actor: "admin", action: "exec", node_id: "vm", command: "true", status: "ok" });
    const count = (action: string): number => repo.query({ action, limit: 1000 }).length;
    assert.equal(count("pairing.refused"), LIMITED_PER_MINUTE);
    assert.equal(count("auth.denied"), LIMITED_PER_MINUTE, "each action has its own window");
    assert.equal(count("exec"), 1, "other actions are never limited");
    const logins = repo.query({ action: "dashboard.login", limit: 1000 });
    assert.equal(logins.filter((e) => e.status === "refused").length, LIMITED_PER_MINUTE);
    assert.equal(logins.filter((e) => e.status === "ok").length, 40);
    now += 61_000;
    auditor.record({ actor: "unknown", action: "pairing.refused", node_id: "vm", status: "identity_mismatch" });
    const latest = repo.query({ action: "pairing.refused", limit: 1 })[0];
    assert.equal((latest?.detail as { suppressed_before?: number } | null)?.suppressed_before, 1000 - LIMITED_PER_MINUTE);
    db.close();
  } finally {
    dir.cleanup();
  }
});

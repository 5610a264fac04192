/** The auditor: every entry goes to SQLite and to logs/audit.log (JSON lines). Never given secrets. */
import type { Logger } from "pino";
import type { AuditEntry, AuditRepository } from "../storage/audit.js";
import type { AuditFile } from "../util/logger.js";

export type AuditInput = Omit<AuditEntry, "ts"> & { ts?: number };

const DENIED_PER_MINUTE = 30;

export class Auditor {
  constructor(
    private readonly repo: AuditRepository,
    private readonly file: AuditFile,
    private readonly logger: Logger,
  ) {}

  private deniedWindow = { start: 0, count: 0, suppressed: 0 };

  record(entry: AuditInput): void {
    this.recordMany([entry]);
  }

  recordMany(entries: readonly AuditInput[]): void {
    const now = Date.now();
    const full: AuditEntry[] = entries.map((entry) => ({ ...entry, ts: entry.ts ?? now }));
    try {
      const ids = this.repo.recordMany(full);
      full.forEach((entry, i) => this.file.append({ audit_id: ids[i], ...entry }, entry.action));
      this.file.flush();
    } catch (error) {
      // An audit failure must be loud but must not take the API down.
      this.logger.error({ err: (error as Error).message, actions: full.map((e) => e.action) }, "could not write the audit log");
    }
  }

  /**
   * Refused requests are recorded, at most DENIED_PER_MINUTE a minute, so a flood of bad tokens
   * cannot fill the disk; the next recorded entry says how many were left out.
   */
  denied(detail: Record<string, unknown>): void {
    const now = Date.now();
    const window = this.deniedWindow;
    if (now - window.start > 60_000) {
      window.start = now;
      window.count = 0;
    }
    if (window.count >= DENIED_PER_MINUTE) {
      window.suppressed += 1;
      return;
    }
    window.count += 1;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    const { actor, ...rest } = detail;
    this.record({
      actor: typeof actor === "string" ? actor : "unknown",
      action: "auth.denied",
      status: typeof actor === "string" ? "forbidden" : "unauthorized",
      detail: suppressed ? { ...rest, suppressed_before: suppressed } : rest,
    });
  }
}

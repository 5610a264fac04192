/** The auditor: every entry goes to SQLite and to logs/audit.log (JSON lines). Never given secrets. */
import type { Logger } from "pino";
import type { AuditEntry, AuditRepository } from "../storage/audit.js";
import type { AuditFile } from "../util/logger.js";

export type AuditInput = Omit<AuditEntry, "ts"> & { ts?: number };

/**
 * Actions anyone outside can cause at will: refused HTTP requests, refused joins, forged replies
 * from a node, refused dashboard login links. They are recorded at most LIMITED_PER_MINUTE a minute per action, so a flood can
 * neither fill the disk nor slow the coordinator; the next recorded entry of that action says how
 * many were left out (`detail.suppressed_before`).
 */
export const LIMITED_ACTIONS: ReadonlySet<string> = new Set(["auth.denied", "pairing.refused", "nats.forgery"]);

/** Whether an entry is one anyone outside can cause at will (a refused dashboard login link too). */
function isLimited(entry: AuditInput): boolean {
  return LIMITED_ACTIONS.has(entry.action) || (entry.action === "dashboard.login" && entry.status === "refused");
}
/** Most entries of one limited action recorded per minute. */
export const LIMITED_PER_MINUTE = 30;

export class Auditor {
  /** One window per limited action. */
  private readonly windows = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(
    private readonly repo: AuditRepository,
    private readonly file: AuditFile,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  record(entry: AuditInput): void {
    this.recordMany([entry]);
  }

  recordMany(entries: readonly AuditInput[]): void {
    const now = this.now();
    const kept: AuditEntry[] = [];
    for (const entry of entries) {
      const admitted = isLimited(entry) ? this.admit(entry, now) : entry;
      if (admitted) kept.push({ ...admitted, ts: admitted.ts ?? now });
    }
    if (kept.length === 0) return;
    try {
      const ids = this.repo.recordMany(kept);
      kept.forEach((entry, i) => this.file.append({ audit_id: ids[i], ...entry }, entry.action));
      this.file.flush();
    } catch (error) {
      // An audit failure must be loud but must not take the API down.
      this.logger.error({ err: (error as Error).message, actions: kept.map((e) => e.action) }, "could not write the audit log");
    }
  }

  /** The entry to record for a limited action (with the count left out before it), or undefined past the limit. */
  private admit(entry: AuditInput, now: number): AuditInput | undefined {
    let window = this.windows.get(entry.action);
    if (!window || now - window.start > 60_000) {
      window = { start: now, count: 0, suppressed: window?.suppressed ?? 0 };
      this.windows.set(entry.action, window);
    }
    if (window.count >= LIMITED_PER_MINUTE) {
      window.suppressed += 1;
      return undefined;
    }
    window.count += 1;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    return suppressed ? { ...entry, detail: { ...(entry.detail ?? {}), suppressed_before: suppressed } } : entry;
  }

  /** A refused HTTP request (no token, wrong token, too small a scope, cross-site); limited as above. */
  denied(detail: Record<string, unknown>): void {
    const { actor, ...rest } = detail;
    this.record({
      actor: typeof actor === "string" ? actor : "unknown",
      action: "auth.denied",
      status: typeof actor === "string" ? "forbidden" : "unauthorized",
      detail: rest,
    });
  }
}

/** Plain-text tables and durations for people (scripts use --json). */
import type { HealthReport } from "../protocol/api.js";
import { printable } from "../protocol/text.js";

export { printable };

/**
 * Columns padded to their widest cell. Every cell is printed through `printable`: a node name, a
 * hostname or a reason stored before control characters were refused (or sent by a peer in a field
 * that allows them) is shown escaped (`\x1b`), never interpreted by the terminal.
 */
export function table(headers: string[], unsafeRows: string[][]): string {
  const rows = unsafeRows.map((row) => row.map((cell) => printable(cell)));
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)}h ago`;
  return `${Math.round(seconds / 86400)}d ago`;
}

export function percent(value: number | null): string {
  return value === null ? "-" : `${Math.round(value)}%`;
}

export function labelsText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(",") : "-";
}

/** "connected, secure" / "connected, OPEN: ..." / "DISCONNECTED", for health lines. */
export function natsSummary(health: HealthReport): string {
  if (!health.nats.connected) return "DISCONNECTED";
  return health.nats.secure ? "connected, secure" : "connected, OPEN (anyone who reaches it can connect; see docs/SECURITY.md)";
}

const SHORT_CAPABILITIES: Record<string, string> = { "shell.exec": "shell", "screen.capture": "screen", "camera.snap": "camera" };

/** "shell,screen,camera,2 skills": what a node can do, short enough for a table column. */
export function capabilitiesText(capabilities: readonly string[]): string {
  const skills = capabilities.filter((c) => c.startsWith("skill:")).length;
  const rest = capabilities.filter((c) => !c.startsWith("skill:")).map((c) => SHORT_CAPABILITIES[c] ?? c);
  if (skills) rest.push(`${skills} skill${skills === 1 ? "" : "s"}`);
  return rest.join(",") || "-";
}

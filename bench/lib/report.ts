/**
 * Results of one benchmark run as a Markdown table (with ratios against the baselines of the same
 * run and the issue's targets), JSON, and an SVG chart.
 */
import type { BenchRow } from "./stats.js";

export interface RunMeta {
  date: string;
  quick: boolean;
  node: string;
  cpus: number;
  cpu: string;
  memoryGb: number;
  versions: Record<string, string>;
}

/** The figure a row is judged and compared by: p50 for latencies, else its value. */
export function headline(row: BenchRow): number | undefined {
  return row.stats ? row.stats.p50 : row.value;
}

function fmt(value: number | undefined, unit: BenchRow["unit"]): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  if (unit === "ms") return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : value >= 100 ? `${value.toFixed(0)} ms` : `${value.toFixed(2)} ms`;
  if (unit === "MB") return `${value.toFixed(1)} MB`;
  if (unit === "%") return `${value.toFixed(2)} %`;
  if (unit === "/s") return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} /s`;
  if (unit === "s") return `${value.toFixed(2)} s`;
  return String(value);
}

export interface Verdict {
  id: string;
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

export function verdicts(rows: readonly BenchRow[]): Verdict[] {
  return rows
    .filter((row) => row.target)
    .map((row) => {
      const value = headline(row);
      const target = row.target as NonNullable<BenchRow["target"]>;
      const met = value !== undefined && (target.op === "<=" ? value <= target.value : value >= target.value);
      return { id: row.id, name: row.name, target: `${target.op} ${fmt(target.value, row.unit)}`, measured: fmt(value, row.unit), met };
    });
}

/** "3.2x faster than ssh" style text for a row against each of its baselines that was measured. */
export function ratio(row: BenchRow, byId: ReadonlyMap<string, BenchRow>): string {
  const ids = row.baseline === undefined ? [] : Array.isArray(row.baseline) ? row.baseline : [row.baseline];
  return ids
    .map((id) => ratioTo(row, id, byId))
    .filter(Boolean)
    .join("; ");
}

function ratioTo(row: BenchRow, id: string, byId: ReadonlyMap<string, BenchRow>): string {
  const base = byId.get(id);
  const mine = headline(row);
  const theirs = base ? headline(base) : undefined;
  if (!base || mine === undefined || theirs === undefined || mine <= 0 || theirs <= 0) return "";
  const factor = theirs / mine;
  const what = base.name.replace(/^[^:]*: /, "");
  const better = factor >= 1 ? `${factor.toFixed(factor >= 10 ? 0 : 1)}x ${row.unit === "ms" || row.unit === "s" ? "faster" : "less"}` : `${(1 / factor).toFixed(1)}x ${row.unit === "ms" || row.unit === "s" ? "slower" : "more"}`;
  return `${better} than ${what}`;
}

export function markdownTable(rows: readonly BenchRow[]): string {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const lines = ["| section | measurement | n | p50 / value | p99 | vs baseline (same run) | target | note |", "|---|---|---|---|---|---|---|---|"];
  for (const row of rows) {
    const value = headline(row);
    const target = row.target ? `${row.target.op} ${fmt(row.target.value, row.unit)} ${verdicts([row])[0]?.met ? "**met**" : "**not met**"}` : "";
    const cells = [row.section, row.name, row.stats ? String(row.stats.n) : "", fmt(value, row.unit), row.stats ? fmt(row.stats.p99, row.unit) : "", ratio(row, byId), target, (row.note ?? "").replace(/\|/g, "\\|")];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

const escapeXml = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/`/g, "");

/**
 * A horizontal bar chart on a log scale: one panel for exec round trips, one for fan-out, each bar
 * a p50 (or value) in ms. Ours in blue, baselines in grey.
 */
export function svgChart(rows: readonly BenchRow[], meta: RunMeta): string {
  const byId = new Map(rows.map((row) => [row.id, row]));
  const panels: Array<{ title: string; ids: string[] }> = [
    { title: "Exec round trip of `true`, p50 (ms, log scale)", ids: ["floor", "exec-api", "openclaw-invoke-ws", "exec-cli", "ssh-true", "openclaw-invoke-cli"] },
    {
      title: "Broadcast `true`, all results in, p50 (ms, log scale)",
      ids: [100, 1000, 10_000].flatMap((n) => [`broadcast-${n}`, `pssh-extrapolated-${n}`, `ansible-extrapolated-${n}`]).concat(["choria-51000", ...rows.filter((r) => /^broadcast-proc-\d+$/.test(r.id)).map((r) => r.id), "pssh-20", "ansible-20"]),
    },
  ];
  const width = 900;
  const labelWidth = 430;
  const barMax = width - labelWidth - 90;
  const rowHeight = 22;
  let y = 40;
  const parts: string[] = [];
  const all = panels.flatMap((p) => p.ids.map((id) => byId.get(id)).filter((r): r is BenchRow => r !== undefined && (headline(r) ?? 0) > 0));
  const values = all.map((r) => headline(r) as number);
  const lo = Math.log10(Math.max(0.05, Math.min(...values) / 2));
  const hi = Math.log10(Math.max(...values) * 1.5);
  const scale = (v: number): number => ((Math.log10(v) - lo) / (hi - lo)) * barMax;
  for (const panel of panels) {
    const present = panel.ids.map((id) => byId.get(id)).filter((r): r is BenchRow => r !== undefined && (headline(r) ?? 0) > 0);
    if (present.length === 0) continue;
    parts.push(`<text x="10" y="${y}" font-size="15" font-weight="bold">${escapeXml(panel.title)}</text>`);
    y += 12;
    for (const row of present) {
      const v = headline(row) as number;
      const ours = !/^(floor|ssh|pssh|ansible|openclaw|choria)/.test(row.id);
      const w = Math.max(2, scale(v));
      const label = row.name.replace(/ \(label selector;[^)]*\)/, "").replace(" via the API", "").replace(" (published figure, not measured here)", " (published)");
      parts.push(`<text x="10" y="${y + 15}" font-size="12">${escapeXml(label.length > 68 ? `${label.slice(0, 66)}…` : label)}</text>`);
      parts.push(`<rect x="${labelWidth}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowHeight - 6}" fill="${ours ? "#2f6fdb" : "#9aa0a6"}"/>`);
      parts.push(`<text x="${labelWidth + w + 6}" y="${y + 15}" font-size="12">${escapeXml(fmt(v, "ms"))}</text>`);
      y += rowHeight;
    }
    y += 24;
  }
  const footer = [
    `${meta.date.slice(0, 10)} · ${meta.cpus} cores (${meta.cpu}) · Node ${meta.node} · blue: OpenClaw Federation, grey: baselines measured in the same run`,
    "pssh and ansible beyond their 20 loopback targets: extrapolated, not measured · Choria: published figure for ~51,000 nodes",
  ];
  for (const line of footer) {
    parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${escapeXml(line)}</text>`);
    y += 15;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 4}" viewBox="0 0 ${width} ${y + 4}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join("")}</svg>\n`;
}

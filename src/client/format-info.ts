/** A node's `sys.info` as a few readable lines, for people (`ocf info`) and for the agent (`fleet_info`). */
import type { NodeInfoResult } from "../protocol/api.js";
import { printable } from "../protocol/text.js";

export function bytes(value: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${size >= 10 || unit === 0 ? Math.round(size) : size.toFixed(1)} ${units[unit]}`;
}

export function duration(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  return days > 0 ? `${days}d ${hours}h` : hours > 0 ? `${hours}h ${minutes}m` : `${minutes}m`;
}

export function formatNodeInfo(result: NodeInfoResult): string {
  const info = result.info;
  const lines = [`${result.node_id} (${info.hostname ?? "?"})`];
  if (info.os) lines.push(`os:      ${info.os.distro ?? info.os.platform} — kernel ${info.os.release}, ${info.arch ?? "?"}`);
  if (info.uptime_s !== undefined) lines.push(`uptime:  ${duration(info.uptime_s)}`);
  if (info.cpu) lines.push(`cpu:     ${info.cpu.cores} × ${info.cpu.model}; load ${info.cpu.load.join(" / ")} (1/5/15 min)`);
  if (info.memory) lines.push(`memory:  ${info.memory.used_percent}% used — ${bytes(info.memory.available_bytes)} available of ${bytes(info.memory.total_bytes)}`);
  for (const disk of info.disks ?? []) {
    lines.push(`disk:    ${disk.mount} ${disk.used_percent}% used — ${bytes(disk.available_bytes)} free of ${bytes(disk.size_bytes)} (${disk.filesystem})`);
  }
  for (const net of info.network ?? []) lines.push(`network: ${net.name} ${net.addresses.join(", ")}`);
  if (info.tailscale) {
    lines.push(`tailscale: ${info.tailscale.ips.join(", ") || "no address"}${info.tailscale.online === null ? "" : info.tailscale.online ? " (online)" : " (OFFLINE)"}`);
  }
  if (info.agent_version) lines.push(`agent:   ocf ${info.agent_version}, node ${info.node_version ?? "?"}`);
  // What the node reports about itself is shown escaped: it cannot add lines or drive a terminal.
  return lines.map((line) => printable(line)).join("\n");
}

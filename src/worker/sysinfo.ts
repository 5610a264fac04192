/**
 * `sys.info`: how a machine is doing, for `ocf info <node>` and the agent ("how is home-server
 * doing?"): OS, kernel, CPU, load, memory, disks, uptime, network interfaces, Tailscale when present.
 * Every probe is bounded in time and a missing tool only leaves its part out.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { arch, cpus, freemem, hostname, loadavg, networkInterfaces, platform, release, totalmem, uptime, version } from "node:os";
import { which } from "./capabilities.js";

export interface DiskInfo {
  mount: string;
  filesystem: string;
  size_bytes: number;
  used_bytes: number;
  available_bytes: number;
  used_percent: number;
}

export interface SystemInfo {
  hostname: string;
  os: { platform: string; release: string; version: string; distro: string | null };
  arch: string;
  cpu: { model: string; cores: number; load: [number, number, number] };
  memory: { total_bytes: number; available_bytes: number; used_percent: number };
  disks: DiskInfo[];
  uptime_s: number;
  network: Array<{ name: string; addresses: string[]; mac: string | null }>;
  tailscale: { ips: string[]; online: boolean | null; hostname: string | null } | null;
  node_version: string;
}

function run(command: string, args: string[], timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: "C" } }, (error, stdout) => resolve(error ? undefined : stdout));
  });
}

function distro(): string | null {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text);
    return match?.[1] ?? null;
  } catch {
    return null;
  }
}

function availableMemory(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (match) return Number(match[1]) * 1024;
  } catch {
    // not Linux
  }
  return freemem();
}

/** Real filesystems from `df -kP` (device-backed, plus /), largest first. */
export function parseDf(text: string): DiskInfo[] {
  const disks: DiskInfo[] = [];
  for (const line of text.trim().split("\n").slice(1)) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 6) continue;
    const [filesystem, size, used, available, , ...mountParts] = parts as [string, string, string, string, string, ...string[]];
    const mount = mountParts.join(" ");
    if (!filesystem.startsWith("/") && mount !== "/") continue;
    const sizeBytes = Number(size) * 1024;
    const usedBytes = Number(used) * 1024;
    const availableBytes = Number(available) * 1024;
    if (!Number.isFinite(sizeBytes) || sizeBytes <= 0) continue;
    disks.push({ mount, filesystem, size_bytes: sizeBytes, used_bytes: usedBytes, available_bytes: availableBytes, used_percent: Math.round((usedBytes / (usedBytes + availableBytes || 1)) * 1000) / 10 });
  }
  return disks.sort((a, b) => b.size_bytes - a.size_bytes).slice(0, 32);
}

async function tailscale(): Promise<SystemInfo["tailscale"]> {
  const tool = which("tailscale");
  if (!tool) return null;
  const status = await run(tool, ["status", "--json"]);
  if (!status) return { ips: [], online: null, hostname: null };
  try {
    const parsed = JSON.parse(status) as { Self?: { TailscaleIPs?: string[]; Online?: boolean; HostName?: string } };
    return { ips: parsed.Self?.TailscaleIPs ?? [], online: parsed.Self?.Online ?? null, hostname: parsed.Self?.HostName ?? null };
  } catch {
    return { ips: [], online: null, hostname: null };
  }
}

export async function collectSystemInfo(): Promise<SystemInfo> {
  const total = totalmem();
  const available = availableMemory();
  const [df, ts] = await Promise.all([run("df", ["-kP"]), tailscale()]);
  const load = loadavg().map((value) => Math.round(value * 100) / 100) as [number, number, number];
  const network = Object.entries(networkInterfaces())
    .map(([name, addresses]) => ({
      name,
      addresses: (addresses ?? []).filter((a) => !a.internal).map((a) => `${a.address}/${a.netmask}`),
      mac: (addresses ?? []).find((a) => !a.internal && a.mac !== "00:00:00:00:00:00")?.mac ?? null,
    }))
    .filter((entry) => entry.addresses.length > 0);
  return {
    hostname: hostname(),
    os: { platform: platform(), release: release(), version: version(), distro: distro() },
    arch: arch(),
    cpu: { model: cpus()[0]?.model.trim() ?? "unknown", cores: cpus().length, load },
    memory: { total_bytes: total, available_bytes: available, used_percent: total > 0 ? Math.round(((total - available) / total) * 1000) / 10 : 0 },
    disks: df ? parseDf(df) : [],
    uptime_s: Math.round(uptime()),
    network,
    tailscale: ts,
    node_version: process.versions.node,
  };
}

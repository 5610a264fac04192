/** What a worker reports about its machine: identity facts and load figures. */
import { statfsSync } from "node:fs";
import { arch, cpus, freemem, hostname, platform, totalmem } from "node:os";
import { localAddresses } from "../util/net.js";

export function machineFacts() {
  return { hostname: hostname().slice(0, 255), os: platform(), arch: arch(), ips: localAddresses() };
}

const round1 = (value: number): number => Math.min(100, Math.max(0, Math.round(value * 10) / 10));

/** CPU busy % since the previous call (the first call measures since boot). */
export class CpuMeter {
  private previous = this.sample();
  private sample(): { idle: number; total: number } {
    let idle = 0;
    let total = 0;
    for (const cpu of cpus()) {
      const t = cpu.times;
      idle += t.idle;
      total += t.user + t.nice + t.sys + t.idle + t.irq;
    }
    return { idle, total };
  }
  read(): number {
    const now = this.sample();
    const total = now.total - this.previous.total;
    const idle = now.idle - this.previous.idle;
    this.previous = now;
    return total > 0 ? round1(((total - idle) / total) * 100) : 0;
  }
}

export function memoryPercent(): number {
  const total = totalmem();
  return total > 0 ? round1(((total - freemem()) / total) * 100) : 0;
}

/** Used % of the filesystem holding `path`. */
export function diskPercent(path: string): number {
  try {
    const stats = statfsSync(path);
    const total = stats.blocks * stats.bsize;
    const available = stats.bavail * stats.bsize;
    const used = total - stats.bfree * stats.bsize;
    return total > 0 ? round1((used / (used + available)) * 100) : 0;
  } catch {
    return 0;
  }
}

/**
 * A small network of "hosts" built from Linux network namespaces (needs root): one switch
 * namespace holding a bridge, and per host a namespace joined to it by a veth pair, with its own
 * address (Tailscale-like 100.64.0.x/24) and loopback. Nothing touches the machine's own network.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Why namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces need root (CI runs as root)";
  const probe = `ocfprobe${randomBytes(3).toString("hex")}`;
  try {
    ip("netns", "add", probe);
    ip("netns", "del", probe);
    return undefined;
  } catch (error) {
    return `cannot create a network namespace: ${(error as Error).message.split("\n")[0]}`;
  }
}

export interface Host {
  name: string;
  ns: string;
  address: string;
  /** The veth end in the switch namespace: down cuts this host off, up heals it. */
  switchPort: string;
}

export class Network {
  readonly tag = randomBytes(3).toString("hex");
  readonly switchNs = `ocfsw-${this.tag}`;
  readonly hosts = new Map<string, Host>();
  private next = 1;

  constructor() {
    ip("netns", "add", this.switchNs);
    ip("-n", this.switchNs, "link", "add", "br0", "type", "bridge");
    ip("-n", this.switchNs, "link", "set", "br0", "up");
    ip("-n", this.switchNs, "link", "set", "lo", "up");
  }

  addHost(name: string): Host {
    const index = this.next++;
    const ns = `ocf${name}-${this.tag}`;
    const inner = `v${this.tag}h${index}`;
    const outer = `v${this.tag}s${index}`;
    const address = `100.64.0.${index}`;
    ip("netns", "add", ns);
    ip("-n", ns, "link", "set", "lo", "up");
    ip("link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer, "netns", this.switchNs);
    ip("-n", ns, "addr", "add", `${address}/24`, "dev", inner);
    ip("-n", ns, "link", "set", inner, "up");
    ip("-n", this.switchNs, "link", "set", outer, "master", "br0");
    ip("-n", this.switchNs, "link", "set", outer, "up");
    const host = { name, ns, address, switchPort: outer };
    this.hosts.set(name, host);
    return host;
  }

  cut(host: Host): void {
    ip("-n", this.switchNs, "link", "set", host.switchPort, "down");
  }

  heal(host: Host): void {
    ip("-n", this.switchNs, "link", "set", host.switchPort, "up");
  }

  /** Delete every namespace (their veths go with them). */
  destroy(): void {
    for (const host of this.hosts.values()) {
      try {
        ip("netns", "del", host.ns);
      } catch {
        // already gone
      }
    }
    try {
      ip("netns", "del", this.switchNs);
    } catch {
      // already gone
    }
  }
}

/**
 * The fleet registry: approved nodes with their live state (status, last seen, load).
 * SQLite holds the truth; liveness lives in memory and is flushed in batches, so thousands of
 * heartbeats a second cost one transaction every flush interval.
 */
import { FleetError } from "../protocol/errors.js";
import type { Heartbeat, Labels } from "../protocol/messages.js";
import { labelsMatch } from "../protocol/labels.js";
import type { NodeRecord, NodeRepository, NodeStatus, SeenUpdate } from "../storage/nodes.js";

export type StatusChange = { node: NodeRecord; from: NodeStatus; to: NodeStatus };

export interface RegistryOptions {
  heartbeatTimeoutMs: number;
  now?: () => number;
  onStatusChange?: (change: StatusChange) => void;
}

/** Normalise a name for forgiving matching: case, spaces and underscores versus dashes. */
export function normaliseName(name: string): string {
  return name.trim().toLowerCase().replace(/[\s_]+/g, "-");
}


export class Registry {
  private readonly nodes = new Map<string, NodeRecord>();
  /** Public key → node id: a join asks who holds its key, and a scan of 10,000 nodes per join added up in an enrollment storm. */
  private readonly byKey = new Map<string, string>();
  private readonly dirty = new Map<string, SeenUpdate>();
  private readonly now: () => number;
  /** Liveness is measured from here for nodes not seen since start (the restart grace). */
  private readonly startedAt: number;

  constructor(
    private readonly repo: NodeRepository,
    private readonly options: RegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    for (const node of repo.list()) this.put(node);
  }

  private put(node: NodeRecord): void {
    const previous = this.nodes.get(node.id);
    if (previous && previous.public_key !== node.public_key && this.byKey.get(previous.public_key) === node.id) this.byKey.delete(previous.public_key);
    this.nodes.set(node.id, node);
    this.byKey.set(node.public_key, node.id);
  }

  get(id: string): NodeRecord | undefined {
    return this.nodes.get(id);
  }

  /** The node (other than `exceptId`) holding this public key (a key belongs to one node id). */
  findByKey(publicKey: string, exceptId: string): NodeRecord | undefined {
    const id = this.byKey.get(publicKey);
    return id !== undefined && id !== exceptId ? this.nodes.get(id) : undefined;
  }

  list(): NodeRecord[] {
    return [...this.nodes.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  counts(): { total: number; online: number; offline: number } {
    let online = 0;
    for (const node of this.nodes.values()) if (node.status === "online") online += 1;
    return { total: this.nodes.size, online, offline: this.nodes.size - online };
  }

  /**
   * Find a node by id or name: exact id, then exact name, then forgiving match
   * (case, `home server` vs `home-server`). Unknown → node_not_found; several → ambiguous_node.
   */
  resolve(ref: string): NodeRecord {
    const exact = this.nodes.get(ref);
    if (exact) return exact;
    // An id spelled another way ("VM", "Home Server") still means that node, before any node's
    // display name: names come from the nodes themselves, so a node calling itself "VM" must not
    // capture what the operator (or the agent, passing names as people say them) meant for vm.
    const asId = this.nodes.get(normaliseName(ref));
    if (asId) return asId;
    const all = [...this.nodes.values()];
    const byName = all.filter((node) => node.name === ref);
    if (byName.length === 1) return byName[0] as NodeRecord;
    const wanted = normaliseName(ref);
    const forgiving = byName.length > 1 ? byName : all.filter((node) => normaliseName(node.id) === wanted || normaliseName(node.name) === wanted);
    if (forgiving.length === 1) return forgiving[0] as NodeRecord;
    if (forgiving.length > 1) {
      throw new FleetError("ambiguous_node", `"${ref}" matches ${forgiving.length} nodes; use the id`, {
        candidates: forgiving.map((node) => ({ id: node.id, name: node.name })),
      });
    }
    throw new FleetError("node_not_found", `no node "${ref}"`, {
      candidates: all.map((node) => ({ id: node.id, name: node.name })).slice(0, 50),
    });
  }

  /** Every approved node whose labels match the selector (all of them for an empty selector). */
  select(selector: Labels): NodeRecord[] {
    return this.list().filter((node) => labelsMatch(node.labels, selector));
  }

  add(node: NodeRecord): void {
    this.repo.upsert(node);
    this.put(this.repo.get(node.id) ?? node);
  }

  /** Update what a node says about itself (on a repeated join request). */
  refresh(id: string, fields: Partial<Pick<NodeRecord, "name" | "hostname" | "os" | "arch" | "ips" | "labels" | "capabilities" | "version" | "max_concurrent_tasks">>): void {
    const node = this.nodes.get(id);
    if (!node) return;
    const updated = { ...node, ...fields };
    this.repo.upsert(updated);
    this.put(updated);
  }

  remove(id: string): boolean {
    this.dirty.delete(id);
    const node = this.nodes.get(id);
    if (node && this.byKey.get(node.public_key) === id) this.byKey.delete(node.public_key);
    const existed = this.nodes.delete(id);
    return this.repo.remove(id) || existed;
  }

  /** A new coordinator.heartbeat_timeout (config reload). */
  setHeartbeatTimeout(ms: number): void {
    this.options.heartbeatTimeoutMs = ms;
  }

  /** Record a heartbeat. Returns false when the node is not an approved member. */
  beat(heartbeat: Heartbeat): boolean {
    const node = this.nodes.get(heartbeat.node_id);
    if (!node) return false;
    const at = this.now();
    node.last_seen = at;
    node.load = heartbeat.load;
    node.max_concurrent_tasks = heartbeat.load.max_concurrent_tasks;
    if (heartbeat.labels && JSON.stringify(heartbeat.labels) !== JSON.stringify(node.labels)) {
      node.labels = heartbeat.labels;
      this.repo.upsert(node);
    }
    if (heartbeat.capabilities && JSON.stringify(heartbeat.capabilities) !== JSON.stringify(node.capabilities)) {
      node.capabilities = heartbeat.capabilities;
      this.repo.upsert(node);
    }
    this.dirty.set(node.id, { id: node.id, last_seen: at, load: heartbeat.load });
    if (node.status !== "online") this.setStatus(node, "online");
    return true;
  }

  /** Mark offline every online node silent for longer than the timeout. Returns those marked. */
  sweep(): NodeRecord[] {
    const at = this.now();
    const marked: NodeRecord[] = [];
    for (const node of this.nodes.values()) {
      if (node.status !== "online") continue;
      const reference = Math.max(node.last_seen ?? 0, this.startedAt);
      if (at - reference > this.options.heartbeatTimeoutMs) {
        this.setStatus(node, "offline");
        marked.push(node);
      }
    }
    return marked;
  }

  /** Write batched liveness to SQLite. */
  flush(): number {
    const batch = [...this.dirty.values()];
    this.dirty.clear();
    this.repo.recordSeen(batch);
    return batch.length;
  }

  private setStatus(node: NodeRecord, to: NodeStatus): void {
    const from = node.status;
    node.status = to;
    this.repo.setStatus(node.id, to);
    this.options.onStatusChange?.({ node, from, to });
  }
}

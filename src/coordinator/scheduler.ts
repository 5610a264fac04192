/**
 * Placement: which node runs each queued task. Only online, approved nodes that match the task's
 * target (a node, a label selector, or any) and requirements (capabilities, labels, OS), and
 * never more attempts on a node than its max_concurrent_tasks. Strategies (scheduler.strategy):
 * least_loaded (default: the fewest running tasks for its capacity, then the lowest CPU),
 * round_robin, random, pinned (the same node for the same target: the first by id).
 * A task that fits nowhere stays queued with the reason.
 */
import { labelsMatch } from "../protocol/labels.js";
import type { NodeRecord } from "../storage/nodes.js";
import type { TaskRecord } from "../storage/tasks.js";

export const STRATEGIES = ["least_loaded", "round_robin", "random", "pinned"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface Placement {
  assignments: Array<{ id: string; attempt: number; node_id: string }>;
  /** Why each task that stays queued does, by task id. */
  waiting: Map<string, string>;
}

/** Why `node` cannot run `task` (ignoring capacity), or undefined when it can. */
export function mismatch(task: TaskRecord, node: NodeRecord): string | undefined {
  if (task.target.node && task.target.node !== node.id) return "pinned elsewhere";
  if (task.target.labels && !labelsMatch(node.labels, task.target.labels)) return "labels";
  const req = task.requirements;
  if (req.labels && !labelsMatch(node.labels, req.labels)) return "labels";
  if (req.os && node.os !== req.os) return `os ${node.os}`;
  const missing = (req.capabilities ?? []).filter((c) => !node.capabilities.includes(c));
  if (task.kind === "skill" && task.skill && !node.capabilities.includes(`skill:${task.skill}`)) missing.push(`skill:${task.skill}`);
  if (missing.length) return `missing ${missing.join(", ")}`;
  return undefined;
}

function describeTarget(task: TaskRecord): string {
  const parts: string[] = [];
  if (task.target.node) parts.push(`node ${task.target.node}`);
  if (task.target.labels) parts.push(`labels ${Object.entries(task.target.labels).map(([k, v]) => `${k}=${v}`).join(",")}`);
  const req = task.requirements;
  if (req.labels) parts.push(`labels ${Object.entries(req.labels).map(([k, v]) => `${k}=${v}`).join(",")}`);
  if (req.os) parts.push(`os ${req.os}`);
  if (req.capabilities?.length) parts.push(`capabilities ${req.capabilities.join(",")}`);
  if (task.kind === "skill") parts.push(`skill ${task.skill ?? "?"}`);
  return parts.length ? parts.join(", ") : "any node";
}

export class Scheduler {
  private cursor = 0;

  constructor(
    private strategy: Strategy,
    private readonly random: () => number = Math.random,
  ) {}

  setStrategy(strategy: Strategy): void {
    this.strategy = strategy;
  }

  /**
   * Place as many queued tasks as capacity allows. `running` holds the attempts each node has
   * now (as the scheduler sees them); it is updated as tasks are placed.
   */
  place(queued: readonly TaskRecord[], nodes: readonly NodeRecord[], running: Map<string, number>): Placement {
    const placement: Placement = { assignments: [], waiting: new Map() };
    const online = nodes.filter((node) => node.status === "online").sort((a, b) => a.id.localeCompare(b.id));
    for (const task of queued) {
      const matching: NodeRecord[] = [];
      const reasons = new Map<string, number>();
      for (const node of online) {
        const why = mismatch(task, node);
        if (why) reasons.set(why, (reasons.get(why) ?? 0) + 1);
        else matching.push(node);
      }
      if (matching.length === 0) {
        placement.waiting.set(task.id, this.noMatch(task, online.length, nodes, reasons));
        continue;
      }
      const free = matching.filter((node) => (running.get(node.id) ?? 0) < node.max_concurrent_tasks);
      if (free.length === 0) {
        placement.waiting.set(task.id, `waiting for a free slot: ${matching.length} matching node(s) all at max_concurrent_tasks`);
        continue;
      }
      const node = this.pick(free, running);
      running.set(node.id, (running.get(node.id) ?? 0) + 1);
      placement.assignments.push({ id: task.id, attempt: task.attempts + 1, node_id: node.id });
    }
    return placement;
  }

  private noMatch(task: TaskRecord, onlineCount: number, nodes: readonly NodeRecord[], reasons: Map<string, number>): string {
    if (task.target.node) {
      const pinned = nodes.find((n) => n.id === task.target.node);
      if (!pinned) return `waiting: node ${task.target.node} is not in the fleet`;
      if (pinned.status !== "online") return `waiting: node ${task.target.node} is offline`;
    }
    if (onlineCount === 0) return "waiting: no node is online";
    const why = [...reasons.entries()].filter(([r]) => r !== "pinned elsewhere").map(([r, n]) => `${n} ${r}`);
    return `waiting: no online node matches (${describeTarget(task)})${why.length ? `: ${why.join("; ")}` : ""}`;
  }

  private pick(free: NodeRecord[], running: Map<string, number>): NodeRecord {
    switch (this.strategy) {
      case "pinned":
        return free[0] as NodeRecord;
      case "random":
        return free[Math.floor(this.random() * free.length)] as NodeRecord;
      case "round_robin": {
        const node = free[this.cursor % free.length] as NodeRecord;
        this.cursor = (this.cursor + 1) % 1_000_000;
        return node;
      }
      case "least_loaded":
      default: {
        let best = free[0] as NodeRecord;
        let bestScore = Number.POSITIVE_INFINITY;
        for (const node of free) {
          const used = (running.get(node.id) ?? 0) / Math.max(1, node.max_concurrent_tasks);
          const score = used * 1000 + (node.load?.cpu ?? 0);
          if (score < bestScore) {
            best = node;
            bestScore = score;
          }
        }
        return best;
      }
    }
  }
}

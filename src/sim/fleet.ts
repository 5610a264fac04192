/**
 * A simulated fleet for benchmarks and load tests (`ocf sim --nodes N`). Every simulated node is a
 * real protocol peer: its own Ed25519 key, a signed join over the coordinator's HTTP API (approved
 * by the coordinator's auto_approve or by an admin through the API), its own subscriptions to its
 * exec and task subjects and to the broadcast subject, heartbeats at the worker's interval
 * (spread over the interval, as independent machines are), and answers in the worker's message
 * formats (broadcast results on each node's own result subject).
 *
 * What the nodes share, to fit 1,000-10,000 of them on one small machine: this process and K NATS
 * connections (default 4), opened with service credentials from the coordinator's trust store
 * instead of each node's own permission-limited JWT (so the simulator must run where the
 * coordinator's state directory is readable). What they skip: fork/exec — a command "runs" in no
 * time and exits 0 with empty output — and the worker's probes, journal and files. A task is
 * acknowledged, started and finished the way a worker does it.
 */
import { createUser, type KeyPair } from "@nats-io/nkeys";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { labelsMatch } from "../protocol/labels.js";
import { BroadcastRequestSchema, ExecRequestSchema, PROTOCOL_VERSION, TaskMessageSchema, type JoinReply, type Labels } from "../protocol/messages.js";
import { signJoinRequest } from "../protocol/signed-join.js";
import { subjects as makeSubjects, type Subjects } from "../protocol/subjects.js";
import { connectNats, guardedCallback, type Msg, type NatsConnection } from "../transport/connection.js";
import { nodeInboxPrefix, TrustStore } from "../transport/trust.js";
import { unpredictableInbox } from "../transport/request.js";
import type { Logger } from "../util/logger.js";

export interface SimFleetOptions {
  /** How many nodes. */
  nodes: number;
  /** Node ids are `<prefix>-<n>`. */
  prefix: string;
  /** NATS connections the nodes share. */
  connections: number;
  labels: Labels;
  maxConcurrentTasks: number;
  heartbeatIntervalMs: number;
  /** Joins in flight at once. */
  enrollConcurrency: number;
  logger: Logger;
}

import { SIM_DEFAULTS } from "./defaults.js";

export { SIM_DEFAULTS };

/** Approve a pending join request (by request id) through the admin API. */
export type Approver = (requestId: string) => Promise<void>;

export interface SimCounters {
  heartbeats: number;
  execs: number;
  broadcastReplies: number;
  tasks: number;
}

/** Ask to join over HTTP with a signed request; approve through `approve` when it comes back pending. Returns the node's key and its NATS user JWT. */
export async function enrollNode(coordinatorUrl: string, nodeId: string, options: { labels: Labels; maxConcurrentTasks: number; key?: KeyPair; approve?: Approver }): Promise<{ key: KeyPair; jwt: string }> {
  const key = options.key ?? createUser();
  const ask = async (): Promise<JoinReply> => {
    const request = signJoinRequest(key, {
      node_id: nodeId,
      name: nodeId,
      hostname: "ocf-sim",
      os: "linux",
      arch: process.arch,
      ips: [],
      labels: options.labels,
      capabilities: ["shell.exec"],
      version: "sim",
      max_concurrent_tasks: options.maxConcurrentTasks,
      ts: Date.now(),
    });
    const response = await fetch(`${coordinatorUrl}/api/v1/enroll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(request) });
    const body = (await response.json().catch(() => ({}))) as JoinReply & { error?: { message?: string } };
    if (response.status === 429) {
      const message = body.error?.message ?? "too many join requests";
      // The coordinator's message names the limit: a rate per minute, or pending requests per address.
      const hint = /max_pending_per_address/.test(message)
        ? "A simulator approving its own nodes keeps up to its enroll concurrency pending from one address: raise coordinator.max_pending_per_address in the coordinator's config (it applies on reload)"
        : "A simulator joins many nodes from one address: raise coordinator.enroll_rate_per_minute (e.g. to 100000) in the coordinator's config and restart it";
      throw new Error(`join of ${nodeId} refused: ${message}. ${hint}`);
    }
    if (!response.ok) throw new Error(`join of ${nodeId} refused (HTTP ${response.status}): ${body.error?.message ?? JSON.stringify(body)}`);
    return body;
  };
  let reply = await ask();
  if (reply.status === "pending" && options.approve && reply.request_id) {
    await options.approve(reply.request_id);
    reply = await ask();
  }
  if (reply.status !== "approved" || !reply.jwt) {
    const hint = reply.status === "pending" ? " (turn on coordinator.auto_approve, or give the simulator an admin token so it approves its own nodes)" : "";
    throw new Error(`${nodeId} was not approved: ${reply.status}${reply.message ? `, ${reply.message}` : ""}${hint}`);
  }
  return { key, jwt: reply.jwt };
}

/** A heartbeat of a simulated node: idle, since its tasks finish the moment they are accepted. */
export function simHeartbeat(nodeId: string, seq: number, max: number): Uint8Array {
  return encodeMessage({ v: PROTOCOL_VERSION, node_id: nodeId, ts: Date.now(), seq, load: { cpu: 0, memory: 0, disk: 0, running_tasks: 0, max_concurrent_tasks: max } });
}

/**
 * A durable task as a simulated node runs it: acknowledge the assignment, report it started, and
 * send `done` (exit 0, no output) until the coordinator records it (at most 20 tries), asking for
 * the answer in the node's own inbox as a worker does. The task
 * takes no time and its slot is free once the result is sent, as on a real worker, so a simulated
 * node is never busy. Returns whether it was an assignment; `onRecorded` runs once the coordinator
 * acknowledged the result.
 */
export function answerTask(nc: NatsConnection, msg: Msg, nodeId: string, subjects: Subjects, onRecorded?: (taskId: string) => void): boolean {
  const message = decodeMessage(msg.data, TaskMessageSchema);
  const ack = (status: string): void => {
    msg.respond(encodeMessage({ v: PROTOCOL_VERSION, task_id: message.task_id, attempt: message.attempt, node_id: nodeId, status }));
  };
  if (message.type !== "assign") {
    ack("unknown");
    return false;
  }
  ack("accepted");
  const now = Date.now();
  const base = { v: PROTOCOL_VERSION, node_id: nodeId, task_id: message.task_id, attempt: message.attempt };
  const events = subjects.taskEvents(nodeId);
  nc.publish(events, encodeMessage({ ...base, type: "started", ts: now }));
  const done = encodeMessage({ ...base, type: "done", state: "succeeded", exit_code: 0, signal: null, stdout: "", stderr: "", truncated: false, started_at: now, finished_at: Date.now() });
  let tries = 0;
  const send = (): void => {
    if (nc.isClosed() || tries++ > 20) return;
    // In the node's own inbox, the only place the coordinator answers it (the shared connection may read any).
    nc.request(events, done, { timeout: 10_000, noMux: true, reply: unpredictableInbox(nodeInboxPrefix(nodeId)) }).then(
      () => onRecorded?.(message.task_id),
      () => setTimeout(send, 500),
    );
  };
  send();
  return true;
}

/** Run `work` over `items` with at most `limit` in flight; the first failure is thrown after the others settle. */
export async function inBatches<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      await work(item).catch((error: unknown) => {
        failure ??= error;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== undefined) throw failure;
}

interface SimNodeState {
  id: string;
  seq: number;
  silent: boolean;
  /** When this node last published a heartbeat (Date.now()). */
  lastBeat: number;
}

/** Ticks per heartbeat interval: node i beats in tick i mod TICKS, so beats are spread evenly. */
const TICKS = 50;

export class SimFleet {
  readonly ids: string[];
  readonly counters: SimCounters = { heartbeats: 0, execs: 0, broadcastReplies: 0, tasks: 0 };
  /** Nodes whose join was approved so far (to remove them again when a start fails). */
  readonly enrolled: string[] = [];
  private readonly nodes = new Map<string, SimNodeState>();
  private readonly connections: NatsConnection[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly subjects: Subjects = makeSubjects();
  private readonly options: SimFleetOptions;

  constructor(options: Partial<SimFleetOptions> & { nodes: number; logger: Logger }) {
    this.options = { ...SIM_DEFAULTS, labels: {}, ...options };
    if (!Number.isInteger(this.options.nodes) || this.options.nodes < 1) throw new Error(`--nodes must be a whole number of at least 1 (got ${this.options.nodes})`);
    if (!Number.isInteger(this.options.connections) || this.options.connections < 1) throw new Error(`--connections must be a whole number of at least 1 (got ${this.options.connections})`);
    this.ids = Array.from({ length: this.options.nodes }, (_, i) => `${this.options.prefix}-${i}`);
    for (const id of this.ids) this.nodes.set(id, { id, seq: 0, silent: false, lastBeat: 0 });
  }

  /** Enroll every node (`onProgress` after each), then connect and start answering and beating. */
  async start(target: { coordinatorUrl: string; natsUrl: string; trustDir: string; approve?: Approver; onProgress?: (enrolled: number) => void }): Promise<void> {
    let enrolled = 0;
    await inBatches(this.ids, this.options.enrollConcurrency, async (id) => {
      await enrollNode(target.coordinatorUrl, id, { labels: this.options.labels, maxConcurrentTasks: this.options.maxConcurrentTasks, approve: target.approve });
      this.enrolled.push(id);
      enrolled += 1;
      target.onProgress?.(enrolled);
    });
    const trust = await TrustStore.open(target.trustDir);
    for (let c = 0; c < this.options.connections; c += 1) {
      const nc = await connectNats({ url: target.natsUrl, name: `ocf-sim-${this.options.prefix}-${c}`, logger: this.options.logger, credentials: await trust.serviceCredentials(`ocf-sim-${this.options.prefix}-${c}`) });
      this.connections.push(nc);
      const mine = this.ids.filter((_, i) => i % this.options.connections === c).map((id) => this.nodes.get(id) as SimNodeState);
      for (const node of mine) this.subscribeNode(nc, node);
      await nc.flush();
      this.startHeartbeats(nc, mine);
    }
  }

  private subscribeNode(nc: NatsConnection, node: SimNodeState): void {
    const log = this.options.logger;
    const s = this.subjects;
    nc.subscribe(s.exec(node.id), { callback: guardedCallback(log, "sim exec", (msg) => this.answerExec(nc, msg, node, false)) });
    nc.subscribe(s.broadcast("exec"), { callback: guardedCallback(log, "sim broadcast", (msg) => this.answerExec(nc, msg, node, true)) });
    nc.subscribe(s.task(node.id), {
      callback: guardedCallback(log, "sim task", (msg) => {
        if (!node.silent && answerTask(nc, msg, node.id, s)) this.counters.tasks += 1;
      }),
    });
  }

  /**
   * Answer an exec (a reply) or a broadcast (a publish on the node's own result subject) as a
   * worker does, for a command that ran in no time and exited 0.
   */
  private answerExec(nc: NatsConnection, msg: Msg, node: SimNodeState, broadcast: boolean): void {
    if (node.silent) return;
    const result = (id: string): Uint8Array => encodeMessage({ v: PROTOCOL_VERSION, id, node_id: node.id, status: "ok", exit_code: 0, signal: null, stdout: "", stderr: "", duration_ms: 0, truncated: false });
    if (broadcast) {
      const request = decodeMessage(msg.data, BroadcastRequestSchema);
      if (!labelsMatch(this.options.labels, request.labels)) return;
      this.counters.broadcastReplies += 1;
      nc.publish(this.subjects.broadcastResult(node.id), result(request.id));
      return;
    }
    if (!msg.reply) return;
    this.counters.execs += 1;
    msg.respond(result(decodeMessage(msg.data, ExecRequestSchema).id));
  }

  private startHeartbeats(nc: NatsConnection, mine: SimNodeState[]): void {
    const max = this.options.maxConcurrentTasks;
    const buckets: SimNodeState[][] = Array.from({ length: TICKS }, () => []);
    mine.forEach((node, i) => buckets[i % TICKS]?.push(node));
    const beat = (node: SimNodeState): void => {
      if (node.silent) return;
      nc.publish(this.subjects.heartbeat(node.id), simHeartbeat(node.id, node.seq++, max));
      node.lastBeat = Date.now();
      this.counters.heartbeats += 1;
    };
    // A first beat from everyone now (they are online at once), then each node once per interval.
    for (const node of mine) beat(node);
    let tick = 0;
    this.timers.push(
      setInterval(() => {
        if (nc.isClosed()) return;
        for (const node of buckets[tick % TICKS] ?? []) beat(node);
        tick += 1;
      }, this.options.heartbeatIntervalMs / TICKS),
    );
  }

  /** Stop one node's heartbeats and answers (it "goes silent"), or bring it back. */
  setSilent(id: string, silent: boolean): void {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no simulated node ${id}`);
    node.silent = silent;
  }

  /** When a node last sent a heartbeat (Date.now()), 0 if never. */
  lastBeatAt(id: string): number {
    return this.nodes.get(id)?.lastBeat ?? 0;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
    await Promise.all(this.connections.map((nc) => nc.drain().catch(() => nc.close())));
    this.connections.length = 0;
  }
}

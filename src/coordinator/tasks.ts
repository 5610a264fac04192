/**
 * Durable tasks on the coordinator: accepted into SQLite before the 201, placed by the Scheduler,
 * assigned to workers over NATS with acknowledgement (resent until acknowledged; the worker's
 * journal makes a resend harmless), completed exactly once (guarded updates, see
 * storage/tasks.ts), retried elsewhere when an attempt fails, times out or loses its node, and
 * streamed to whoever watches. Nothing here needs JetStream: SQLite on this side and the worker's
 * journal on the other are the durable stores, and every message between them is repeated until
 * the other side confirms it.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { FleetError } from "../protocol/errors.js";
import { PROTOCOL_VERSION, TaskAckSchema, TaskEventSchema, type TaskDoneEvent, type TaskMessage } from "../protocol/messages.js";
import type { Subjects } from "../protocol/subjects.js";
import type { AttemptRecord, NewTask, TaskQuery, TaskRecord, TaskRepository } from "../storage/tasks.js";
import { FINAL_TASK_STATES } from "../storage/tasks.js";
import type { Msg, NatsConnection } from "../transport/connection.js";
import { request } from "../transport/request.js";
import { limited } from "../util/logger.js";
import { answerNode } from "./replies.js";
import type { Registry } from "./registry.js";
import { Scheduler, type Strategy } from "./scheduler.js";

/** Output kept in the database per stream and attempt; the whole of it goes to a file when larger. */
export const DB_OUTPUT_BYTES = 64 * 1024;
/** Live output kept in memory for a watcher who connects late, per task. */
const LIVE_BUFFER_BYTES = 1024 * 1024;
const TICK_MS = 250;
const RESEND_MS = 3000;
const ACK_TIMEOUT_MS = 5000;
const PURGE_MS = 10 * 60 * 1000;
const QUEUE_BATCH = 1000;
const BUSY_BACKOFF_MS = 500;

export interface TaskSpec {
  command?: string | undefined;
  skill?: string | undefined;
  params?: Record<string, unknown> | undefined;
  /** A node id (already resolved) or a label selector; neither: any node. */
  node?: string | undefined;
  labels?: Record<string, string> | undefined;
  requires?: { capabilities?: string[] | undefined; labels?: Record<string, string> | undefined; os?: string | undefined } | undefined;
  priority?: number | undefined;
  timeout_ms?: number | undefined;
  max_retries?: number | undefined;
}

export type StreamEvent = { event: "output"; data: { attempt: number; stream: "stdout" | "stderr"; data: string } } | { event: "state" | "end"; data: TaskRecord };
type Listener = (event: StreamEvent) => void;

interface Active {
  task_id: string;
  attempt: number;
  node_id: string;
  acked: boolean;
  lastSent: number;
  sending: boolean;
  cancel: boolean;
  cancelAcked: boolean;
  message: Extract<TaskMessage, { type: "assign" }>;
}

export interface TaskServiceOptions {
  repo: TaskRepository;
  registry: Registry;
  subjects: Subjects;
  nc: () => NatsConnection | undefined;
  strategy: Strategy;
  maxOutputBytes: number;
  defaultTimeoutMs: number;
  defaultRetries: number;
  retentionMs: number;
  outputDir: string;
  logger: Logger;
  /** Count a message dropped or a reply not sent (`reason`). */
  onDropped?: (reason: string) => void;
}

function newTaskId(): string {
  return `t${Date.now().toString(36)}${randomBytes(5).toString("hex")}`;
}

const key = (taskId: string, attempt: number): string => `${taskId}#${attempt}`;

export class TaskService {
  private readonly active = new Map<string, Active>();
  private readonly waiting = new Map<string, string>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly live = new Map<string, { attempt: number; chunks: Array<{ stream: "stdout" | "stderr"; data: string }>; bytes: number }>();
  private readonly scheduler: Scheduler;
  private timers: NodeJS.Timeout[] = [];
  private tickQueued = false;
  /** No online node had a free slot at the last look. */
  private allBusy = false;
  /** Nodes that just answered "busy" are left out of placement for a moment. */
  private readonly busyUntil = new Map<string, number>();
  private lastPurge = 0;

  constructor(private readonly options: TaskServiceOptions) {
    this.scheduler = new Scheduler(options.strategy);
    mkdirSync(options.outputDir, { recursive: true, mode: 0o700 });
  }

  /** Load the attempts that hold slots (after a restart) and start the loop. */
  start(): void {
    for (const attempt of this.options.repo.activeAttempts()) {
      const task = this.options.repo.get(attempt.task_id);
      if (!task) continue;
      this.active.set(key(attempt.task_id, attempt.attempt), {
        task_id: attempt.task_id,
        attempt: attempt.attempt,
        node_id: attempt.node_id,
        // Not known to have arrived: send again (the worker answers `duplicate` if it has it).
        acked: attempt.state === "running",
        lastSent: 0,
        sending: false,
        cancel: task.cancel_requested,
        cancelAcked: false,
        message: this.assignMessage(task, attempt.attempt),
      });
    }
    this.timers.push(setInterval(() => this.tick(), TICK_MS));
    this.kick();
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  /** A reloaded `scheduler` section: strategy, defaults for new tasks, retention. */
  applySettings(settings: { strategy: Strategy; max_retries: number; task_timeout: number; retention: number }): void {
    this.scheduler.setStrategy(settings.strategy);
    this.options.defaultRetries = settings.max_retries;
    this.options.defaultTimeoutMs = settings.task_timeout * 1000;
    this.options.retentionMs = settings.retention * 1000;
  }

  /** Accept tasks: stored before this returns (the API answers 201 after it). */
  submit(specs: readonly TaskSpec[], actor: string): TaskRecord[] {
    const now = Date.now();
    const tasks: NewTask[] = specs.map((spec) => ({
      id: newTaskId(),
      kind: spec.skill ? "skill" : "command",
      command: spec.command,
      skill: spec.skill,
      params: spec.skill ? (spec.params ?? {}) : undefined,
      target: { ...(spec.node ? { node: spec.node } : {}), ...(spec.labels ? { labels: spec.labels } : {}) },
      requirements: {
        ...(spec.requires?.capabilities?.length ? { capabilities: spec.requires.capabilities } : {}),
        ...(spec.requires?.labels ? { labels: spec.requires.labels } : {}),
        ...(spec.requires?.os ? { os: spec.requires.os } : {}),
      },
      priority: spec.priority ?? 0,
      timeout_ms: spec.timeout_ms ?? this.options.defaultTimeoutMs,
      max_retries: spec.max_retries ?? this.options.defaultRetries,
      submitted_by: actor,
      created_at: now,
    }));
    this.options.repo.insertMany(tasks);
    this.kick();
    return tasks.map((task) => this.options.repo.get(task.id) as TaskRecord);
  }

  get(id: string): TaskRecord {
    const task = this.options.repo.get(id);
    if (!task) throw new FleetError("not_found", `no task "${id}"`);
    return this.withReason(task);
  }

  attempts(id: string): AttemptRecord[] {
    return this.options.repo.attempts(id);
  }

  list(query: TaskQuery): TaskRecord[] {
    return this.options.repo.list(query).map((task) => this.withReason(task));
  }

  /** The whole output of one attempt's stream (from the file when it outgrew the database). */
  output(id: string, attempt: number, stream: "stdout" | "stderr"): string {
    const record = this.options.repo.attempt(id, attempt);
    if (!record) throw new FleetError("not_found", `task "${id}" has no attempt ${attempt}`);
    if (record.output_file) {
      try {
        return readFileSync(this.outputFile(id, attempt, stream), "utf8");
      } catch {
        // the file went (retention): what the database holds
      }
    }
    if (record.state === "assigned" || record.state === "running") {
      const live = this.live.get(id);
      return live && live.attempt === attempt ? live.chunks.filter((c) => c.stream === stream).map((c) => c.data).join("") : "";
    }
    return (stream === "stdout" ? record.stdout : record.stderr) ?? "";
  }

  cancel(id: string, actor: string): TaskRecord {
    const outcome = this.options.repo.cancel(id, `cancelled by ${actor}`, Date.now());
    if (outcome === "missing") throw new FleetError("not_found", `no task "${id}"`);
    const task = this.options.repo.get(id) as TaskRecord;
    if (outcome === "final") throw new FleetError("conflict", `task ${id} already ended (${task.state})`);
    if (outcome === "cancelled") {
      this.waiting.delete(id);
      this.notify(id, { event: "end", data: task });
    } else {
      const entry = this.active.get(key(id, task.attempts));
      if (entry) {
        entry.cancel = true;
        this.sendCancel(entry);
      }
    }
    return this.withReason(task);
  }

  /** Attempts holding a slot on a node, as the scheduler sees them. */
  runningOn(nodeId: string): number {
    let count = 0;
    for (const entry of this.active.values()) if (entry.node_id === nodeId) count += 1;
    return count;
  }

  counts(): Record<string, number> {
    return this.options.repo.counts();
  }

  /** Watch a task: output chunks as they come, state changes, and the end. Returns the unsubscribe. */
  subscribe(id: string, listener: Listener): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  /** The live output so far of the current attempt (for a watcher who just connected). */
  liveOutput(id: string): { attempt: number; chunks: Array<{ stream: "stdout" | "stderr"; data: string }> } | undefined {
    return this.live.get(id);
  }

  /** A node went offline: its attempts are lost (retried elsewhere while retries remain). */
  nodeOffline(nodeId: string): void {
    for (const entry of [...this.active.values()]) {
      if (entry.node_id === nodeId) this.lose(entry, `node ${nodeId} went offline`);
    }
  }

  /**
   * A task event from a worker: started, output, or done (acknowledged once recorded). The node is
   * the one in the subject (only it may publish there); an event for an attempt that node does not
   * hold changes nothing. Answers go only to that node's own inbox.
   */
  onEvent(msg: Msg): void {
    const log = this.options.logger;
    const subjectNode = this.options.subjects.nodeIdOf(msg.subject);
    const replies = { logger: log, onDropped: this.options.onDropped };
    let event;
    try {
      if (subjectNode === undefined) throw new Error(`${msg.subject.slice(0, 128)} names no node`);
      event = decodeMessage(msg.data, TaskEventSchema);
      if (event.node_id !== subjectNode) throw new Error(`event for ${event.node_id} arrived on ${msg.subject}`);
    } catch (error) {
      limited(log).warn("task-event.invalid", { subject: msg.subject.slice(0, 128), err: (error as Error).message.slice(0, 500) }, "invalid task event ignored");
      if (subjectNode !== undefined) answerNode(replies, msg, subjectNode, encodeMessage({ v: PROTOCOL_VERSION, ok: false, error: (error as Error).message }), "task_event");
      return;
    }
    const entry = this.active.get(key(event.task_id, event.attempt));
    const holds = entry !== undefined && entry.node_id === event.node_id;
    switch (event.type) {
      case "started":
        if (!holds) {
          // Another node's attempt (or one already over): its state is not this node's to change.
          limited(log).warn("task-event.not-holder", { task_id: event.task_id.slice(0, 64), attempt: event.attempt, node_id: event.node_id, type: event.type }, "task event from a node that does not hold this attempt: ignored");
          return;
        }
        entry.acked = true;
        try {
          if (this.options.repo.markStarted(event.task_id, event.attempt, event.ts, Date.now())) {
            const task = this.options.repo.get(event.task_id);
            if (task) this.notify(event.task_id, { event: "state", data: task });
          }
        } catch (error) {
          // Only the "running" mark is lost; the result, sent until acknowledged, still ends the attempt.
          log.error({ task_id: event.task_id, attempt: event.attempt, err: (error as Error).message }, "could not record that a task started");
        }
        return;
      case "output": {
        if (!holds) return;
        this.appendLive(event.task_id, event.attempt, event.stream, event.data);
        this.notify(event.task_id, { event: "output", data: { attempt: event.attempt, stream: event.stream, data: event.data } });
        return;
      }
      case "done":
        try {
          this.record(event);
          answerNode(replies, msg, event.node_id, encodeMessage({ v: PROTOCOL_VERSION, ok: true }), "task_event");
        } catch (error) {
          // Not acknowledged: the worker sends it again.
          log.error({ task_id: event.task_id, attempt: event.attempt, err: (error as Error).message }, "could not record a task result");
        }
    }
  }

  private record(done: TaskDoneEvent): void {
    const id = done.task_id;
    // Only the node the attempt was given to may end it.
    if (this.options.repo.attempt(id, done.attempt)?.node_id !== done.node_id) {
      limited(this.options.logger).warn("task-event.not-holder", { task_id: id.slice(0, 64), attempt: done.attempt, node_id: done.node_id, type: "done" }, "task result from a node that does not hold this attempt: ignored");
      return;
    }
    const large = Buffer.byteLength(done.stdout) > DB_OUTPUT_BYTES || Buffer.byteLength(done.stderr) > DB_OUTPUT_BYTES;
    if (large) {
      mkdirSync(join(this.options.outputDir, id), { recursive: true, mode: 0o700 });
      writeFileSync(this.outputFile(id, done.attempt, "stdout"), done.stdout, { mode: 0o600 });
      writeFileSync(this.outputFile(id, done.attempt, "stderr"), done.stderr, { mode: 0o600 });
    }
    const cut = (text: string): string => (Buffer.byteLength(text) > DB_OUTPUT_BYTES ? Buffer.from(text).subarray(0, DB_OUTPUT_BYTES).toString("utf8") : text);
    const outcome = this.options.repo.finish(
      id,
      done.attempt,
      {
        state: done.state,
        exit_code: done.exit_code,
        signal: done.signal,
        stdout: cut(done.stdout),
        stderr: cut(done.stderr),
        truncated: done.truncated,
        output_file: large,
        started_at: done.started_at,
        finished_at: done.finished_at,
        error: done.error ? `${done.error.code}: ${done.error.message}` : null,
      },
      Date.now(),
    );
    this.active.delete(key(id, done.attempt));
    if (!outcome.recorded) {
      this.options.logger.info({ task_id: id, attempt: done.attempt, node_id: done.node_id }, "task result already recorded (or the attempt was given up): acknowledged, not recorded again");
      return;
    }
    this.finished(outcome.task, outcome.retried);
  }

  private finished(task: TaskRecord, retried: boolean): void {
    this.options.logger.info({ task_id: task.id, state: task.state, node_id: task.node_id, retried }, retried ? "task attempt ended; retrying" : "task finished");
    if (!retried) this.live.delete(task.id);
    this.notify(task.id, { event: retried ? "state" : "end", data: this.withReason(task) });
    this.kick();
  }

  private lose(entry: Active, why: string): void {
    this.endWithoutResult(entry, entry.cancel ? "cancelled" : "lost", why);
  }

  /** End an attempt the node will not report on (lost, refused, cancelled before it ran). */
  private endWithoutResult(entry: Active, state: "lost" | "cancelled" | "failed", why: string): void {
    this.active.delete(key(entry.task_id, entry.attempt));
    const outcome = this.options.repo.finish(
      entry.task_id,
      entry.attempt,
      { state, exit_code: null, signal: null, stdout: "", stderr: "", truncated: false, output_file: false, started_at: null, finished_at: Date.now(), error: why },
      Date.now(),
    );
    if (outcome.recorded) this.finished(outcome.task, outcome.retried);
  }

  private kick(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      this.tick();
    });
  }

  /** Place queued tasks, resend unacknowledged messages, give up attempts on nodes gone offline. */
  tick(): void {
    const log = this.options.logger;
    try {
      const now = Date.now();
      // Attempts on nodes that are offline or gone (also after a restart, for nodes that never came back).
      for (const entry of [...this.active.values()]) {
        const node = this.options.registry.get(entry.node_id);
        if (!node) this.lose(entry, `node ${entry.node_id} was removed`);
        else if (node.status !== "online") this.lose(entry, `node ${entry.node_id} is offline`);
      }
      const nc = this.options.nc();
      if (nc && !nc.isClosed()) {
        this.place(now);
        for (const entry of this.active.values()) {
          if (!entry.acked && !entry.sending && now - entry.lastSent >= RESEND_MS) this.sendAssign(entry);
          else if (entry.cancel && !entry.cancelAcked && !entry.sending && now - entry.lastSent >= RESEND_MS) this.sendCancel(entry);
        }
      }
      if (now - this.lastPurge > PURGE_MS) {
        this.lastPurge = now;
        for (const id of this.options.repo.purge(now - this.options.retentionMs)) rmSync(join(this.options.outputDir, id), { recursive: true, force: true });
      }
    } catch (error) {
      log.error({ err: (error as Error).message }, "task scheduling failed; trying again");
    }
  }

  private place(now: number): void {
    const running = new Map<string, number>();
    for (const entry of this.active.values()) running.set(entry.node_id, (running.get(entry.node_id) ?? 0) + 1);
    const nodes = this.options.registry.list();
    // A node that just said "busy" (commands from ocf exec share its slots) counts as full for a moment.
    for (const node of nodes) if ((this.busyUntil.get(node.id) ?? 0) > now) running.set(node.id, Math.max(running.get(node.id) ?? 0, node.max_concurrent_tasks));
    let free = 0;
    for (const node of nodes) if (node.status === "online") free += Math.max(0, node.max_concurrent_tasks - (running.get(node.id) ?? 0));
    this.allBusy = free === 0;
    // Every slot taken: nothing can be placed (the reasons from the last look still hold).
    if (free === 0 && this.waiting.size > 0) return;
    // Look a little past what fits, so tasks that match no free node do not hide those that do.
    const queued = this.options.repo.queued(Math.min(QUEUE_BATCH, Math.max(100, free * 4)));
    this.waiting.clear();
    if (queued.length === 0) return;
    const placement = this.scheduler.place(queued, nodes, running);
    for (const [id, reason] of placement.waiting) this.waiting.set(id, reason);
    if (placement.assignments.length === 0) return;
    const byId = new Map(queued.map((task) => [task.id, task]));
    for (const assignment of this.options.repo.assignMany(placement.assignments, now)) {
      const task = byId.get(assignment.id) as TaskRecord;
      const entry: Active = {
        task_id: assignment.id,
        attempt: assignment.attempt,
        node_id: assignment.node_id,
        acked: false,
        lastSent: 0,
        sending: false,
        cancel: false,
        cancelAcked: false,
        message: this.assignMessage(task, assignment.attempt),
      };
      this.active.set(key(assignment.id, assignment.attempt), entry);
      this.notify(assignment.id, { event: "state", data: { ...task, state: "assigned", attempts: assignment.attempt, node_id: assignment.node_id } });
      this.sendAssign(entry);
    }
  }

  private assignMessage(task: TaskRecord, attempt: number): Extract<TaskMessage, { type: "assign" }> {
    return {
      v: PROTOCOL_VERSION,
      type: "assign",
      task_id: task.id,
      attempt,
      work: task.kind === "skill" ? { kind: "skill", skill: task.skill ?? "", params: task.params ?? {} } : { kind: "command", command: task.command ?? "" },
      timeout_ms: task.timeout_ms,
      max_output_bytes: this.options.maxOutputBytes,
    };
  }

  private sendAssign(entry: Active): void {
    this.request(entry, entry.message, (status, error) => {
      if (status === "accepted" || status === "duplicate") {
        entry.acked = true;
        if (entry.cancel && !entry.cancelAcked) this.sendCancel(entry);
        return;
      }
      // busy or refused: it never ran; back to the queue without using a retry.
      if (!this.active.has(key(entry.task_id, entry.attempt))) return;
      this.active.delete(key(entry.task_id, entry.attempt));
      const why = `${entry.node_id} ${status === "busy" ? "was busy" : "refused it"}${error ? `: ${error}` : ""}`;
      if (status === "refused") {
        // A refusal is about the task itself on that node (policy, unknown skill): it ends.
        this.endWithoutResult(entry, "failed", why);
      } else {
        this.busyUntil.set(entry.node_id, Date.now() + BUSY_BACKOFF_MS);
        this.options.repo.reject(entry.task_id, entry.attempt, why, Date.now());
        this.kick();
      }
    });
  }

  private sendCancel(entry: Active): void {
    const message: TaskMessage = { v: PROTOCOL_VERSION, type: "cancel", task_id: entry.task_id, attempt: entry.attempt };
    this.request(entry, message, (status) => {
      if (status === "accepted" || status === "duplicate") entry.cancelAcked = true;
      else if (status === "unknown" && !entry.acked) {
        // The node never had it: cancelled here and now.
        this.lose(entry, "cancelled before the node started it");
      }
    });
  }

  private request(entry: Active, message: TaskMessage, onAck: (status: string, error?: string) => void): void {
    const nc = this.options.nc();
    if (!nc || nc.isClosed()) return;
    entry.sending = true;
    entry.lastSent = Date.now();
    request(nc, this.options.subjects.task(entry.node_id), encodeMessage(message), ACK_TIMEOUT_MS)
      .then((reply) => {
        const ack = decodeMessage(reply, TaskAckSchema);
        onAck(ack.status, ack.error?.message);
      })
      .catch((error: unknown) => {
        // No answer: sent again on a later tick; the node going offline ends the attempt.
        this.options.logger.debug({ task_id: entry.task_id, node_id: entry.node_id, err: (error as Error).message }, "task message not acknowledged yet");
      })
      .finally(() => {
        entry.sending = false;
      });
  }

  private appendLive(id: string, attempt: number, stream: "stdout" | "stderr", data: string): void {
    let live = this.live.get(id);
    if (!live || live.attempt !== attempt) {
      live = { attempt, chunks: [], bytes: 0 };
      this.live.set(id, live);
    }
    live.chunks.push({ stream, data });
    live.bytes += data.length;
    while (live.bytes > LIVE_BUFFER_BYTES && live.chunks.length > 1) live.bytes -= (live.chunks.shift() as { data: string }).data.length;
  }

  private notify(id: string, event: StreamEvent): void {
    const set = this.listeners.get(id);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.warn({ task_id: id, err: (error as Error).message }, "a task watcher failed");
      }
    }
  }

  private withReason(task: TaskRecord): TaskRecord {
    if (task.state !== "queued") return task;
    const reason = this.waiting.get(task.id) ?? (this.allBusy ? "waiting for a free slot: every online node is at max_concurrent_tasks" : undefined);
    return reason ? { ...task, reason } : task;
  }

  private outputFile(id: string, attempt: number, stream: "stdout" | "stderr"): string {
    return join(this.options.outputDir, id, `${attempt}.${stream}`);
  }

  /** True once the task ended (for the stream route). */
  static isFinal(task: TaskRecord): boolean {
    return FINAL_TASK_STATES.has(task.state);
  }
}

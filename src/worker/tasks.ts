/**
 * Durable tasks on the worker. An assignment is journaled (`<state_dir>/tasks/<task>.<attempt>.json`,
 * 0600) before it is acknowledged, so the same attempt is never run twice, whatever is
 * redelivered. Output streams to the coordinator while the task runs; the result is journaled and
 * sent until the coordinator acknowledges it (across coordinator and NATS restarts), then the
 * journal entry goes. A worker that restarts kills the process groups its previous life left
 * running and reports those attempts `lost`, so the coordinator retries them elsewhere.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import type { ErrorCode } from "../protocol/errors.js";
import { PROTOCOL_VERSION, TaskMessageSchema, type TaskAck, type TaskDoneEvent, type TaskMessage } from "../protocol/messages.js";
import type { Subjects } from "../protocol/subjects.js";
import type { Msg, NatsConnection } from "../transport/connection.js";
import { writeFileAtomic } from "../util/files.js";
import { commandEnv, decide, type ExecPolicy } from "./policy.js";
import { runProgram, runShell, type ShellResult } from "./shell.js";
import { SkillError, skillEnv, type SkillCatalog } from "./skills.js";

type Assign = Extract<TaskMessage, { type: "assign" }>;

interface JournalEntry {
  task_id: string;
  attempt: number;
  state: "running" | "done";
  pgid: number | null;
  started_at: number | null;
  result?: TaskDoneEvent;
}

interface Running {
  entry: JournalEntry;
  controller: AbortController;
  cancelled: boolean;
}

export interface TaskRunnerOptions {
  nodeId: string;
  stateDir: string;
  subjects: Subjects;
  nc: () => NatsConnection | undefined;
  policy: ExecPolicy;
  skills: SkillCatalog;
  workdir: string;
  maxOutputBytes: number;
  /** Take a slot of max_concurrent_tasks (shared with exec); undefined when the node is full. */
  reserve: (id: string, controller: AbortController) => (() => void) | undefined;
  logger: Logger;
}

/** Output is sent in chunks of at most this many bytes, at most every FLUSH_MS. */
const CHUNK_BYTES = 16 * 1024;
const FLUSH_MS = 50;
const RESEND_MAX_MS = 10_000;
const DONE_TIMEOUT_MS = 5000;

export class TaskRunner {
  private readonly dir: string;
  private readonly running = new Map<string, Running>();
  /** Results waiting for the coordinator's acknowledgement, by key. */
  private readonly unsent = new Map<string, TaskDoneEvent>();
  private resendTimer?: NodeJS.Timeout;
  private resendDelay = 1000;
  private stopping = false;

  constructor(private readonly options: TaskRunnerOptions) {
    this.dir = join(options.stateDir, "tasks");
  }

  /** Read the journal: finish what a previous life left (kill its process groups), queue unsent results. */
  recover(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const file of readdirSync(this.dir).filter((f) => f.endsWith(".json"))) {
      let entry: JournalEntry;
      try {
        entry = JSON.parse(readFileSync(join(this.dir, file), "utf8")) as JournalEntry;
      } catch {
        rmSync(join(this.dir, file), { force: true });
        continue;
      }
      if (entry.state === "running") {
        if (entry.pgid) {
          try {
            process.kill(-entry.pgid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        entry.state = "done";
        entry.result = this.doneEvent(entry, "lost", null, "", "", false, { code: "shutting_down", message: "the worker restarted while this task ran; its processes were killed" });
        this.journal(entry);
        this.options.logger.warn({ task_id: entry.task_id, attempt: entry.attempt }, "task interrupted by a worker restart: reported lost");
      }
      if (entry.result) this.unsent.set(key(entry.task_id, entry.attempt), entry.result);
    }
  }

  /** Connected and approved: send what is waiting. */
  resume(): void {
    this.resendDelay = 1000;
    this.flushUnsent();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.resendTimer) clearTimeout(this.resendTimer);
    for (const run of this.running.values()) run.controller.abort();
  }

  get active(): number {
    return this.running.size;
  }

  onMessage(msg: Msg, approved: boolean): void {
    let message: TaskMessage;
    try {
      message = decodeMessage(msg.data, TaskMessageSchema);
    } catch (error) {
      this.reply(msg, { task_id: "unknown", attempt: 0, status: "refused", error: { code: "bad_request", message: (error as Error).message } });
      return;
    }
    const { task_id: taskId, attempt } = message;
    const id = key(taskId, attempt);
    if (message.type === "cancel") {
      const run = this.running.get(id);
      if (run) {
        run.cancelled = true;
        run.controller.abort();
        this.reply(msg, { task_id: taskId, attempt, status: "accepted" });
      } else if (this.unsent.has(id) || existsSync(this.file(taskId, attempt))) {
        this.reply(msg, { task_id: taskId, attempt, status: "duplicate" });
        this.flushUnsent();
      } else this.reply(msg, { task_id: taskId, attempt, status: "unknown" });
      return;
    }
    // The same attempt again (a resend after a lost acknowledgement): never a second run.
    if (this.running.has(id) || this.unsent.has(id) || existsSync(this.file(taskId, attempt))) {
      this.reply(msg, { task_id: taskId, attempt, status: "duplicate" });
      if (this.unsent.has(id)) this.flushUnsent();
      return;
    }
    const refuse = (code: ErrorCode, text: string): void => this.reply(msg, { task_id: taskId, attempt, status: "refused", error: { code, message: text } });
    if (!approved) return refuse("not_approved", "node is not approved");
    if (this.stopping) return this.reply(msg, { task_id: taskId, attempt, status: "busy", error: { code: "shutting_down", message: "worker is shutting down" } });
    let program: { file: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv; input?: string } | { command: string };
    if (message.work.kind === "command") {
      const verdict = decide(this.options.policy, message.work.command);
      if (!verdict.allowed) return refuse("policy_denied", verdict.reason);
      program = { command: message.work.command };
    } else {
      if (this.options.policy.mode === "deny") return refuse("policy_denied", `${this.options.nodeId} has worker.exec_policy: deny`);
      try {
        const { skill, params } = this.options.skills.prepare(message.work.skill, message.work.params);
        program = { file: skill.program, args: skill.args, cwd: skill.dir, env: skillEnv(commandEnv(this.options.policy), skill, params), input: `${JSON.stringify(params)}\n` };
      } catch (error) {
        return refuse(error instanceof SkillError ? error.code : "bad_request", (error as Error).message);
      }
    }
    const controller = new AbortController();
    const release = this.options.reserve(id, controller);
    if (!release) return this.reply(msg, { task_id: taskId, attempt, status: "busy", error: { code: "node_busy", message: "node is at max_concurrent_tasks" } });
    const entry: JournalEntry = { task_id: taskId, attempt, state: "running", pgid: null, started_at: null };
    this.journal(entry);
    const run: Running = { entry, controller, cancelled: false };
    this.running.set(id, run);
    this.reply(msg, { task_id: taskId, attempt, status: "accepted" });
    void this.execute(message, program, run).finally(release);
  }

  private async execute(message: Assign, program: { file: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv; input?: string } | { command: string }, run: Running): Promise<void> {
    const { entry } = run;
    const log = this.options.logger;
    const started = Date.now();
    entry.started_at = started;
    this.publish({ v: PROTOCOL_VERSION, type: "started", node_id: this.options.nodeId, task_id: entry.task_id, attempt: entry.attempt, ts: started });
    log.info({ task_id: entry.task_id, attempt: entry.attempt }, "task start");
    const stream = new OutputStream((streamName, data, seq) =>
      this.publish({ v: PROTOCOL_VERSION, type: "output", node_id: this.options.nodeId, task_id: entry.task_id, attempt: entry.attempt, seq, stream: streamName, data }),
    );
    const common = {
      timeoutMs: message.timeout_ms,
      maxOutputBytes: Math.min(message.max_output_bytes, this.options.maxOutputBytes),
      signal: run.controller.signal,
      onOutput: (name: "stdout" | "stderr", chunk: Buffer) => stream.push(name, chunk),
      onSpawn: (pgid: number) => {
        entry.pgid = pgid;
        this.journal(entry);
      },
    };
    let result: ShellResult;
    try {
      result =
        "command" in program
          ? await runShell(program.command, { ...common, cwd: this.options.workdir, env: commandEnv(this.options.policy) })
          : await runProgram(program.file, program.args, { ...common, cwd: program.cwd, env: program.env, ...(program.input !== undefined ? { input: program.input } : {}) });
    } finally {
      stream.close();
    }
    const state = result.spawn_error
      ? "failed"
      : run.cancelled
        ? "cancelled"
        : result.aborted
          ? "lost"
          : result.timed_out
            ? "timed_out"
            : result.exit_code === 0
              ? "succeeded"
              : "failed";
    const error = result.spawn_error
      ? { code: "exec_failed" as const, message: `could not start: ${result.spawn_error}` }
      : state === "cancelled"
        ? { code: "conflict" as const, message: "cancelled; its process group was killed" }
        : state === "lost"
          ? { code: "shutting_down" as const, message: "the worker shut down during the task; its process group was killed" }
          : state === "timed_out"
            ? { code: "timeout" as const, message: `timed out after ${message.timeout_ms} ms; its process group was killed` }
            : undefined;
    entry.state = "done";
    entry.result = this.doneEvent(entry, state, result, result.stdout, result.stderr, result.truncated, error);
    this.journal(entry);
    this.running.delete(key(entry.task_id, entry.attempt));
    log.info({ task_id: entry.task_id, attempt: entry.attempt, state, exit_code: result.exit_code, ms: Date.now() - started }, "task done");
    this.unsent.set(key(entry.task_id, entry.attempt), entry.result);
    this.flushUnsent();
  }

  private doneEvent(entry: JournalEntry, state: TaskDoneEvent["state"], result: ShellResult | null, stdout: string, stderr: string, truncated: boolean, error?: { code: ErrorCode; message: string }): TaskDoneEvent {
    return {
      v: PROTOCOL_VERSION,
      type: "done",
      node_id: this.options.nodeId,
      task_id: entry.task_id,
      attempt: entry.attempt,
      state,
      exit_code: result?.exit_code ?? null,
      signal: result?.signal ?? null,
      stdout,
      stderr,
      truncated,
      started_at: entry.started_at,
      finished_at: Date.now(),
      ...(error ? { error } : {}),
    };
  }

  /** Send every unacknowledged result; retry with backoff until the coordinator confirms. */
  private flushUnsent(): void {
    if (this.resendTimer || this.unsent.size === 0) return;
    const nc = this.options.nc();
    if (!nc || nc.isClosed()) {
      this.scheduleResend();
      return;
    }
    const pending = [...this.unsent.entries()];
    void Promise.all(
      pending.map(async ([id, result]) => {
        try {
          const reply = await nc.request(this.options.subjects.taskEvents(this.options.nodeId), fitDone(result, nc.info?.max_payload ?? 1024 * 1024), { timeout: DONE_TIMEOUT_MS });
          const body = JSON.parse(new TextDecoder().decode(reply.data)) as { ok?: boolean };
          if (body.ok !== true) return false;
          this.unsent.delete(id);
          rmSync(this.file(result.task_id, result.attempt), { force: true });
          return true;
        } catch {
          return false;
        }
      }),
    ).then((results) => {
      if (results.every(Boolean)) this.resendDelay = 1000;
      else this.scheduleResend();
    });
  }

  private scheduleResend(): void {
    if (this.stopping || this.resendTimer) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      this.flushUnsent();
    }, this.resendDelay);
    this.resendTimer.unref();
    this.resendDelay = Math.min(RESEND_MAX_MS, this.resendDelay * 2);
  }

  private publish(event: Record<string, unknown>): void {
    const nc = this.options.nc();
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(this.options.subjects.taskEvents(this.options.nodeId), encodeMessage(event));
    } catch {
      // streamed output is best effort; the result carries the output too
    }
  }

  private reply(msg: Msg, fields: Omit<TaskAck, "v" | "node_id">): void {
    if (!msg.reply) return;
    try {
      msg.respond(encodeMessage({ v: PROTOCOL_VERSION, node_id: this.options.nodeId, ...fields }));
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message }, "could not acknowledge a task message");
    }
  }

  private file(taskId: string, attempt: number): string {
    return join(this.dir, `${taskId.replace(/[^A-Za-z0-9_-]/g, "_")}.${attempt}.json`);
  }

  private journal(entry: JournalEntry): void {
    writeFileAtomic(this.file(entry.task_id, entry.attempt), JSON.stringify(entry), 0o600);
  }
}

function key(taskId: string, attempt: number): string {
  return `${taskId}#${attempt}`;
}

/** The result as one message within the server's max payload (output cut from the end if needed). */
function fitDone(result: TaskDoneEvent, maxPayload: number): Uint8Array {
  let body = encodeMessage(result);
  let { stdout, stderr } = result;
  while (body.length > maxPayload - 1024 && (stdout.length > 0 || stderr.length > 0)) {
    stdout = stdout.slice(0, Math.floor(stdout.length / 2));
    stderr = stderr.slice(0, Math.floor(stderr.length / 2));
    body = encodeMessage({ ...result, stdout, stderr, truncated: true });
  }
  return body;
}

/** Coalesces output chunks: at most CHUNK_BYTES per message, flushed every FLUSH_MS. */
class OutputStream {
  private buffers: Record<"stdout" | "stderr", Buffer[]> = { stdout: [], stderr: [] };
  private sizes = { stdout: 0, stderr: 0 };
  private seq = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly send: (stream: "stdout" | "stderr", data: string, seq: number) => void) {}

  push(stream: "stdout" | "stderr", chunk: Buffer): void {
    this.buffers[stream].push(chunk);
    this.sizes[stream] += chunk.length;
    if (this.sizes[stream] >= CHUNK_BYTES) this.flush(stream);
    else if (!this.timer) this.timer = setTimeout(() => this.flushAll(), FLUSH_MS);
  }

  close(): void {
    this.flushAll();
  }

  private flushAll(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush("stdout");
    this.flush("stderr");
  }

  private flush(stream: "stdout" | "stderr"): void {
    if (this.sizes[stream] === 0) return;
    const data = Buffer.concat(this.buffers[stream]);
    this.buffers[stream] = [];
    this.sizes[stream] = 0;
    for (let at = 0; at < data.length; at += CHUNK_BYTES) this.send(stream, data.subarray(at, at + CHUNK_BYTES).toString("utf8"), this.seq++);
  }
}

/**
 * Durable tasks and their attempts. Every state change is one guarded UPDATE (it only applies
 * from the states it may come from), inside a transaction with the task's row, so a completion
 * that arrives twice (a worker retrying after a lost acknowledgement, a restart) is recorded once.
 */
import type { SqliteDatabase } from "./database.js";

export const TASK_STATES = ["queued", "assigned", "running", "succeeded", "failed", "timed_out", "cancelled", "lost"] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(["succeeded", "failed", "timed_out", "cancelled", "lost"]);
export const ATTEMPT_STATES = ["assigned", "running", "succeeded", "failed", "timed_out", "cancelled", "lost", "rejected"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];
export type AttemptResultState = "succeeded" | "failed" | "timed_out" | "cancelled" | "lost";

export interface TaskTarget {
  node?: string;
  labels?: Record<string, string>;
}
export interface TaskRequirements {
  capabilities?: string[];
  labels?: Record<string, string>;
  os?: string;
}

export interface NewTask {
  id: string;
  kind: "command" | "skill";
  command?: string | undefined;
  skill?: string | undefined;
  params?: Record<string, unknown> | undefined;
  target: TaskTarget;
  requirements: TaskRequirements;
  priority: number;
  timeout_ms: number;
  max_retries: number;
  submitted_by: string;
  created_at: number;
}

export interface TaskRecord extends NewTask {
  seq: number;
  state: TaskState;
  attempts: number;
  failures: number;
  node_id: string | null;
  exit_code: number | null;
  reason: string | null;
  cancel_requested: boolean;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

export interface AttemptRecord {
  task_id: string;
  attempt: number;
  node_id: string;
  state: AttemptState;
  assigned_at: number;
  started_at: number | null;
  finished_at: number | null;
  exit_code: number | null;
  signal: string | null;
  stdout: string | null;
  stderr: string | null;
  truncated: boolean;
  /** The full output is in the coordinator's task-output folder (the columns hold the start). */
  output_file: boolean;
  error: string | null;
}

export interface AttemptResult {
  state: AttemptResultState;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  output_file: boolean;
  started_at: number | null;
  finished_at: number;
  error: string | null;
}

/** What recording a result did: nothing (already recorded), or the task's new state. */
export type FinishOutcome = { recorded: false } | { recorded: true; task: TaskRecord; retried: boolean };

interface TaskRow extends Omit<TaskRecord, "params" | "target" | "requirements" | "cancel_requested" | "command" | "skill"> {
  command: string | null;
  skill: string | null;
  params: string | null;
  target: string;
  requirements: string;
  cancel_requested: number;
}

interface AttemptRow extends Omit<AttemptRecord, "truncated" | "output_file"> {
  truncated: number;
  output_file: number;
}

function toTask(row: TaskRow): TaskRecord {
  return {
    ...row,
    command: row.command ?? undefined,
    skill: row.skill ?? undefined,
    params: row.params === null ? undefined : (JSON.parse(row.params) as Record<string, unknown>),
    target: JSON.parse(row.target) as TaskTarget,
    requirements: JSON.parse(row.requirements) as TaskRequirements,
    cancel_requested: row.cancel_requested === 1,
  };
}

function toAttempt(row: AttemptRow): AttemptRecord {
  return { ...row, truncated: row.truncated === 1, output_file: row.output_file === 1 };
}

export interface TaskQuery {
  state?: TaskState | undefined;
  node?: string | undefined;
  submitted_by?: string | undefined;
  /** Only tasks with a sequence number below this (paging backwards from the newest). */
  before?: number | undefined;
  limit: number;
}

export class TaskRepository {
  private readonly statements;

  constructor(private readonly db: SqliteDatabase) {
    this.statements = {
      insert: db.prepare(`INSERT INTO tasks (id, kind, command, skill, params, target, requirements, priority, timeout_ms, max_retries, state, submitted_by, created_at, updated_at)
        VALUES (@id, @kind, @command, @skill, @params, @target, @requirements, @priority, @timeout_ms, @max_retries, 'queued', @submitted_by, @created_at, @created_at)`),
      get: db.prepare("SELECT * FROM tasks WHERE id = ?"),
      queued: db.prepare("SELECT * FROM tasks WHERE state = 'queued' ORDER BY priority DESC, seq LIMIT ?"),
      attempts: db.prepare("SELECT * FROM task_attempts WHERE task_id = ? ORDER BY attempt"),
      attempt: db.prepare("SELECT * FROM task_attempts WHERE task_id = ? AND attempt = ?"),
      active: db.prepare("SELECT * FROM task_attempts WHERE state IN ('assigned', 'running')"),
      assignTask: db.prepare("UPDATE tasks SET state = 'assigned', attempts = @attempt, node_id = @node_id, reason = NULL, updated_at = @now WHERE id = @id AND state = 'queued' AND attempts = @attempt - 1"),
      insertAttempt: db.prepare("INSERT INTO task_attempts (task_id, attempt, node_id, state, assigned_at) VALUES (@id, @attempt, @node_id, 'assigned', @now)"),
      startAttempt: db.prepare("UPDATE task_attempts SET state = 'running', started_at = @ts WHERE task_id = @id AND attempt = @attempt AND state = 'assigned'"),
      startTask: db.prepare("UPDATE tasks SET state = 'running', started_at = COALESCE(started_at, @ts), updated_at = @now WHERE id = @id AND attempts = @attempt AND state = 'assigned'"),
      finishAttempt: db.prepare(`UPDATE task_attempts SET state = @state, started_at = COALESCE(started_at, @started_at), finished_at = @finished_at, exit_code = @exit_code, signal = @signal,
        stdout = @stdout, stderr = @stderr, truncated = @truncated, output_file = @output_file, error = @error
        WHERE task_id = @id AND attempt = @attempt AND state IN ('assigned', 'running')`),
      requeueTask: db.prepare("UPDATE tasks SET state = 'queued', failures = @failures, reason = @reason, exit_code = @exit_code, updated_at = @now WHERE id = @id AND attempts = @attempt AND state IN ('assigned', 'running')"),
      finishTask: db.prepare(`UPDATE tasks SET state = @state, failures = @failures, exit_code = @exit_code, reason = @reason, finished_at = @now, updated_at = @now,
        started_at = COALESCE(started_at, @started_at) WHERE id = @id AND attempts = @attempt AND state IN ('assigned', 'running')`),
      rejectAttempt: db.prepare("UPDATE task_attempts SET state = 'rejected', finished_at = @now, error = @error WHERE task_id = @id AND attempt = @attempt AND state = 'assigned'"),
      unassignTask: db.prepare("UPDATE tasks SET state = 'queued', reason = @error, updated_at = @now WHERE id = @id AND attempts = @attempt AND state = 'assigned'"),
      cancelQueued: db.prepare("UPDATE tasks SET state = 'cancelled', cancel_requested = 1, reason = @reason, finished_at = @now, updated_at = @now WHERE id = @id AND state = 'queued'"),
      requestCancel: db.prepare("UPDATE tasks SET cancel_requested = 1, updated_at = @now WHERE id = @id AND state IN ('assigned', 'running')"),
      purge: db.prepare("SELECT id FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ? LIMIT 1000"),
      deleteTask: db.prepare("DELETE FROM tasks WHERE id = ?"),
      deleteAttempts: db.prepare("DELETE FROM task_attempts WHERE task_id = ?"),
      counts: db.prepare("SELECT state, COUNT(*) AS n FROM tasks GROUP BY state"),
    };
  }

  insertMany(tasks: readonly NewTask[]): void {
    this.db.transaction((batch: readonly NewTask[]) => {
      for (const task of batch) {
        this.statements.insert.run({
          ...task,
          command: task.command ?? null,
          skill: task.skill ?? null,
          params: task.params === undefined ? null : JSON.stringify(task.params),
          target: JSON.stringify(task.target),
          requirements: JSON.stringify(task.requirements),
        });
      }
    })(tasks);
  }

  get(id: string): TaskRecord | undefined {
    const row = this.statements.get.get(id) as TaskRow | undefined;
    return row ? toTask(row) : undefined;
  }

  attempts(id: string): AttemptRecord[] {
    return (this.statements.attempts.all(id) as AttemptRow[]).map(toAttempt);
  }

  attempt(id: string, attempt: number): AttemptRecord | undefined {
    const row = this.statements.attempt.get(id, attempt) as AttemptRow | undefined;
    return row ? toAttempt(row) : undefined;
  }

  /** Queued tasks in the order they should be placed: priority, then age. */
  queued(limit: number): TaskRecord[] {
    return (this.statements.queued.all(limit) as TaskRow[]).map(toTask);
  }

  /** Attempts that hold a slot on a node (assigned or running). */
  activeAttempts(): AttemptRecord[] {
    return (this.statements.active.all() as AttemptRow[]).map(toAttempt);
  }

  list(query: TaskQuery): TaskRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.state) {
      where.push("state = ?");
      params.push(query.state);
    }
    if (query.node) {
      where.push("node_id = ?");
      params.push(query.node);
    }
    if (query.submitted_by) {
      where.push("submitted_by = ?");
      params.push(query.submitted_by);
    }
    if (query.before !== undefined) {
      where.push("seq < ?");
      params.push(query.before);
    }
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, query.limit) as TaskRow[]).map(toTask);
  }

  counts(): Record<TaskState, number> {
    const counts = Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
    for (const row of this.statements.counts.all() as Array<{ state: TaskState; n: number }>) counts[row.state] = row.n;
    return counts;
  }

  /** Place attempts (each: the task's next attempt on a node). Returns those that applied. */
  assignMany(assignments: ReadonlyArray<{ id: string; attempt: number; node_id: string }>, now: number): Array<{ id: string; attempt: number; node_id: string }> {
    return this.db.transaction(() => {
      const applied: Array<{ id: string; attempt: number; node_id: string }> = [];
      for (const assignment of assignments) {
        if (this.statements.assignTask.run({ ...assignment, now }).changes !== 1) continue;
        this.statements.insertAttempt.run({ ...assignment, now });
        applied.push(assignment);
      }
      return applied;
    })();
  }

  markStarted(id: string, attempt: number, ts: number, now: number): boolean {
    return this.db.transaction(() => {
      const changed = this.statements.startAttempt.run({ id, attempt, ts }).changes === 1;
      if (changed) this.statements.startTask.run({ id, attempt, ts, now });
      return changed;
    })();
  }

  /**
   * Record an attempt's end, once. A failure, timeout or lost node puts the task back in the
   * queue while retries remain (never after a cancel); anything else ends the task.
   */
  finish(id: string, attempt: number, result: AttemptResult, now: number): FinishOutcome {
    return this.db.transaction((): FinishOutcome => {
      const changed = this.statements.finishAttempt.run({
        id,
        attempt,
        state: result.state,
        started_at: result.started_at,
        finished_at: result.finished_at,
        exit_code: result.exit_code,
        signal: result.signal,
        stdout: result.stdout,
        stderr: result.stderr,
        truncated: result.truncated ? 1 : 0,
        output_file: result.output_file ? 1 : 0,
        error: result.error,
      }).changes;
      if (changed !== 1) return { recorded: false };
      const task = this.get(id);
      if (!task || task.attempts !== attempt || FINAL_TASK_STATES.has(task.state)) return { recorded: false };
      const failed = result.state === "failed" || result.state === "timed_out" || result.state === "lost";
      const failures = task.failures + (failed ? 1 : 0);
      const retry = failed && !task.cancel_requested && failures <= task.max_retries;
      const finalState = task.cancel_requested && result.state !== "succeeded" ? "cancelled" : result.state;
      if (retry) {
        const reason = `retrying: attempt ${attempt} on ${task.node_id ?? "?"} ${result.state === "lost" ? "was lost" : result.state === "timed_out" ? "timed out" : `failed (exit ${result.exit_code ?? result.signal ?? "?"})`}`;
        this.statements.requeueTask.run({ id, attempt, failures, reason, exit_code: result.exit_code, now });
      } else {
        this.statements.finishTask.run({ id, attempt, state: finalState, failures, exit_code: result.exit_code, reason: result.error, started_at: result.started_at, now });
      }
      return { recorded: true, task: this.get(id) as TaskRecord, retried: retry };
    })();
  }

  /** The node refused an assignment it never ran (busy, not approved): back to the queue, no retry used. */
  reject(id: string, attempt: number, error: string, now: number): boolean {
    return this.db.transaction(() => {
      if (this.statements.rejectAttempt.run({ id, attempt, error, now }).changes !== 1) return false;
      this.statements.unassignTask.run({ id, attempt, error, now });
      return true;
    })();
  }

  /** Cancel: a queued task ends at once; an assigned or running one is flagged (the node is told). */
  cancel(id: string, reason: string, now: number): "cancelled" | "requested" | "final" | "missing" {
    return this.db.transaction(() => {
      if (this.statements.cancelQueued.run({ id, reason, now }).changes === 1) return "cancelled" as const;
      if (this.statements.requestCancel.run({ id, now }).changes === 1) return "requested" as const;
      return this.get(id) ? ("final" as const) : ("missing" as const);
    })();
  }

  /** Delete finished tasks older than `before`; returns their ids (their output files go too). */
  purge(before: number): string[] {
    const ids = (this.statements.purge.all(before) as Array<{ id: string }>).map((row) => row.id);
    this.db.transaction(() => {
      for (const id of ids) {
        this.statements.deleteAttempts.run(id);
        this.statements.deleteTask.run(id);
      }
    })();
    return ids;
  }
}

/**
 * `ocf tasks submit|list|show|logs|cancel`: durable tasks (stored by the coordinator, placed by its
 * scheduler, retried when a node is lost). `submit --follow` and `logs -f` stream the output while
 * the task runs and exit with its exit code.
 */
import type { Command } from "commander";
import type { FleetClient, TaskSubmission } from "../../client/client.js";
import type { TaskView } from "../../protocol/api.js";
import { clientFor, fromClientError, globals, parseDuration, parseLabels, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { ago, labelsText, printable, table } from "../format.js";
import { parseParams } from "./skills.js";

const collect = (value: string, all: string[]): string[] => [...all, value];

/** The exit code for a finished task: its own, 124 on timeout, 130 when cancelled, 1 when lost. */
export function taskExitCode(task: TaskView): number {
  if (task.state === "succeeded") return 0;
  if (task.state === "timed_out") return EXIT.timeout;
  if (task.state === "cancelled") return 130;
  if (task.state === "failed" && task.exit_code !== null) return task.exit_code;
  return EXIT.failure;
}

/** Stream a task's output to stdout/stderr until it ends; returns the final task. */
export async function follow(client: FleetClient, id: string, quiet = false): Promise<TaskView> {
  let attempt = 0;
  const final = await client
    .followTask(id, (event) => {
      if (event.event === "output") {
        if (event.data.attempt !== attempt) {
          if (attempt !== 0 && !quiet) process.stderr.write(`[ocf] attempt ${event.data.attempt}\n`);
          attempt = event.data.attempt;
        }
        (event.data.stream === "stdout" ? process.stdout : process.stderr).write(event.data.data);
      } else if (event.event === "state" && !quiet && event.data.state === "queued" && event.data.reason) {
        process.stderr.write(`[ocf] ${printable(`${event.data.id} queued: ${event.data.reason}`)}\n`);
      }
    })
    .catch(fromClientError);
  if (!quiet && final.state !== "succeeded") process.stderr.write(`[ocf] ${printable(`task ${final.id} ${final.state}${final.node_id ? ` on ${final.node_id}` : ""}${final.reason ? `: ${final.reason}` : ""}`)}\n`);
  return final;
}

function tasksTable(tasks: TaskView[]): string {
  if (tasks.length === 0) return "no tasks";
  return table(
    ["ID", "STATE", "NODE", "TRY", "EXIT", "AGE", "WHAT", "REASON"],
    tasks.map((task) => [
      task.id,
      task.state,
      task.node_id ?? "-",
      String(task.attempt),
      task.exit_code === null ? "-" : String(task.exit_code),
      ago(task.created_at),
      (task.command ?? `skill ${task.skill ?? "?"}`).slice(0, 40),
      (task.reason ?? "").slice(0, 60),
    ]),
  );
}

/**
 * One task with every attempt, for `ocf tasks show`. Its reason, attempt errors, node ids, command
 * and who submitted it come from the fleet (a node writes the errors): every line is escaped.
 */
export function taskDetails(task: TaskView): string {
  const what = task.command !== null ? `command: ${task.command}` : `skill: ${task.skill ?? "?"} ${JSON.stringify(task.params ?? {})}`;
  const target = task.target.node ?? (task.target.labels ? labelsText(task.target.labels) : "any node");
  const lines = [
    `${task.id}: ${task.state}${task.reason ? ` (${task.reason})` : ""}`,
    `  ${what}`,
    `  target: ${target}; priority ${task.priority}; timeout ${task.timeout_ms / 1000}s; retries ${task.failures}/${task.max_retries}`,
    `  submitted by ${task.submitted_by} ${ago(task.created_at)}${task.duration_ms !== null ? `; ran ${task.duration_ms} ms` : ""}`,
    ...(task.attempts ?? []).map((attempt) => `  attempt ${attempt.attempt} on ${attempt.node_id}: ${attempt.state}${attempt.exit_code !== null ? ` (exit ${attempt.exit_code})` : ""}${attempt.error ? ` — ${attempt.error}` : ""}`),
  ];
  return lines.map((line) => printable(line)).join("\n");
}

export function register(program: Command): void {
  const tasks = program.command("tasks").description("durable tasks: queued, placed by the scheduler, retried when a node is lost, kept for inspection");

  tasks
    .command("submit [command]")
    .description('queue a command (or --skill) to run on a suitable node, e.g. ocf tasks submit "make test" --label gpu=yes --follow')
    .option("--skill <name>", "run this skill instead of a command")
    .option("-p, --param <key=value>", "a skill parameter (repeatable)", collect, [] as string[])
    .option("-n, --node <node>", "run on this node only")
    .option("-l, --label <key=value>", "run on a node with these labels (repeatable)", collect, [] as string[])
    .option("--require <capability>", "the node must offer this capability, e.g. screen.capture (repeatable)", collect, [] as string[])
    .option("--os <os>", "the node's OS, e.g. linux or darwin")
    .option("--priority <n>", "higher runs first (-1000..1000, default 0)")
    .option("-t, --timeout <duration>", "kill it after this long, e.g. 30s, 2h (default scheduler.task_timeout)")
    .option("--retries <n>", "retries when it fails, times out or its node is lost (default scheduler.max_retries)")
    .option("-f, --follow", "stream its output until it ends and exit with its exit code")
    .action(async (command: string | undefined, options: { skill?: string; param: string[]; node?: string; label: string[]; require: string[]; os?: string; priority?: string; timeout?: string; retries?: string; follow?: boolean }, cmd: Command) => {
      if (!command === !options.skill) throw new CliError("give a command or --skill NAME (one of them)", EXIT.usage);
      const integer = (value: string | undefined, flag: string): number | undefined => {
        if (value === undefined) return undefined;
        if (!/^-?\d+$/.test(value)) throw new CliError(`${flag} must be a whole number, not "${value}"`, EXIT.usage);
        return Number(value);
      };
      const spec: TaskSubmission = {
        ...(command ? { command } : {}),
        ...(options.skill ? { skill: options.skill, params: parseParams(options.param) } : {}),
        ...(options.node ? { node: options.node } : {}),
        ...(options.label.length ? { labels: parseLabels(options.label) } : {}),
        ...(options.require.length || options.os ? { requires: { ...(options.require.length ? { capabilities: options.require } : {}), ...(options.os ? { os: options.os } : {}) } } : {}),
        ...(options.priority !== undefined ? { priority: integer(options.priority, "--priority") as number } : {}),
        ...(options.timeout ? { timeout_s: parseDuration(options.timeout) / 1000 } : {}),
        ...(options.retries !== undefined ? { max_retries: integer(options.retries, "--retries") as number } : {}),
      };
      const client = clientFor(cmd);
      const task = await client.submitTask(spec).catch(fromClientError);
      if (!options.follow) {
        if (globals(cmd).json) printJson(task);
        else console.log(printable(`${task.id} queued${task.target.node ? ` for ${task.target.node}` : ""} (ocf tasks logs -f ${task.id})`));
        return;
      }
      const final = await follow(client, task.id, globals(cmd).json === true);
      if (globals(cmd).json) printJson(final);
      process.exitCode = taskExitCode(final);
    });

  tasks
    .command("list")
    .alias("ls")
    .description("tasks, newest first")
    .option("--state <state>", "queued, assigned, running, succeeded, failed, timed_out, cancelled or lost")
    .option("-n, --node <node>", "only tasks placed on this node")
    .option("--limit <n>", "how many (default 50, at most 1000)")
    .option("--before <seq>", "page: tasks older than this (the next_before of the previous page)")
    .action(async (options: { state?: string; node?: string; limit?: string; before?: string }, cmd: Command) => {
      const page = await clientFor(cmd)
        .tasks({
          ...(options.state ? { state: options.state } : {}),
          ...(options.node ? { node: options.node } : {}),
          ...(options.limit ? { limit: Number(options.limit) } : {}),
          ...(options.before ? { before: Number(options.before) } : {}),
        })
        .catch(fromClientError);
      if (globals(cmd).json) printJson(page);
      else {
        console.log(tasksTable(page.tasks));
        if (page.next_before) console.log(`(more: ocf tasks list --before ${page.next_before})`);
      }
    });

  tasks
    .command("show <id>")
    .description("one task with every attempt")
    .action(async (id: string, _options, cmd: Command) => {
      const task = await clientFor(cmd).task(id).catch(fromClientError);
      if (globals(cmd).json) {
        printJson(task);
        return;
      }
      console.log(taskDetails(task));
    });

  tasks
    .command("logs <id>")
    .description("the output of a task (its last attempt); -f streams it while it runs and exits with its exit code")
    .option("-f, --follow", "stream until the task ends")
    .option("--attempt <n>", "an earlier attempt")
    .action(async (id: string, options: { follow?: boolean; attempt?: string }, cmd: Command) => {
      const client = clientFor(cmd);
      if (options.follow) {
        const final = await follow(client, id);
        process.exitCode = taskExitCode(final);
        return;
      }
      const attempt = options.attempt ? Number(options.attempt) : undefined;
      const [stdout, stderr] = await Promise.all([client.taskOutput(id, "stdout", attempt), client.taskOutput(id, "stderr", attempt)]).catch(fromClientError);
      process.stdout.write(stdout);
      process.stderr.write(stderr);
    });

  tasks
    .command("cancel <id>")
    .description("cancel a task: a queued one ends at once, a running one has its process group killed")
    .action(async (id: string, _options, cmd: Command) => {
      const task = await clientFor(cmd).cancelTask(id).catch(fromClientError);
      if (globals(cmd).json) printJson(task);
      else console.log(printable(task.state === "cancelled" ? `${task.id} cancelled` : `${task.id}: cancelling (its node is killing it)`));
    });
}

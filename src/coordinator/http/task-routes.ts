/**
 * Durable tasks over HTTP: submit (one or a batch), list with filters and paging, show with
 * attempts, the whole output of an attempt, live output as Server-Sent Events, cancel.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { FleetError } from "../../protocol/errors.js";
import { LabelsSchema } from "../../protocol/messages.js";
import { TASK_STATES } from "../../storage/tasks.js";
import type { TaskSpec } from "../tasks.js";
import { TaskService } from "../tasks.js";
import type { HttpDeps } from "./server.js";
import { parseBody } from "./parse.js";
import { scoped } from "./access.js";
import { openEventStream } from "./sse.js";
import { taskView } from "./views.js";

const MAX_BATCH = 1000;

const TaskBody = z
  .strictObject({
    command: z.string().min(1).max(64 * 1024).optional(),
    skill: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,47}$/, "must be a skill name such as disk-usage").optional(),
    params: z.record(z.string(), z.unknown()).optional(),
    node: z.string().min(1).max(128).optional(),
    labels: LabelsSchema.optional(),
    requires: z
      .strictObject({
        capabilities: z.array(z.string().min(1).max(64)).max(32).optional(),
        labels: LabelsSchema.optional(),
        os: z.string().min(1).max(64).optional(),
      })
      .optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
    timeout_s: z.number().positive().max(7 * 86400).optional(),
    max_retries: z.number().int().min(0).max(100).optional(),
  })
  .superRefine((body, ctx) => {
    if (!body.command === !body.skill) ctx.addIssue({ code: "custom", path: ["command"], message: "give exactly one of command or skill" });
    if (body.params && !body.skill) ctx.addIssue({ code: "custom", path: ["params"], message: "params go with a skill" });
    if (body.node && body.labels) ctx.addIssue({ code: "custom", path: ["labels"], message: "give node or labels, not both" });
  });
type TaskBodyType = z.infer<typeof TaskBody>;
const BatchBody = z.strictObject({ tasks: z.array(TaskBody).min(1).max(MAX_BATCH) });

const ListQuery = z.strictObject({
  state: z.enum(TASK_STATES).optional(),
  node: z.string().min(1).max(128).optional(),
  submitted_by: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  before: z.coerce.number().int().min(1).optional(),
});
const OutputQuery = z.strictObject({
  attempt: z.coerce.number().int().min(1).optional(),
  stream: z.enum(["stdout", "stderr"]).default("stdout"),
});

export function registerTaskRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const spec = (body: TaskBodyType, where: string): TaskSpec => {
    let node: string | undefined;
    if (body.node) {
      try {
        node = deps.registry.resolve(body.node).id;
      } catch (error) {
        if (error instanceof FleetError) throw new FleetError(error.code, `${where}node: ${error.message}`, error.details);
        throw error;
      }
    }
    return {
      command: body.command,
      skill: body.skill,
      params: body.params,
      node,
      labels: body.labels,
      requires: body.requires,
      priority: body.priority,
      timeout_ms: body.timeout_s === undefined ? undefined : Math.round(body.timeout_s * 1000),
      max_retries: body.max_retries,
    };
  };

  app.post("/api/v1/tasks", scoped("exec"), async (request, reply) => {
    // A batch is { tasks: [...] }; anything else is one task (so errors name the right fields).
    const batch = typeof request.body === "object" && request.body !== null && "tasks" in request.body;
    const specs = batch ? parseBody(BatchBody, request.body).tasks.map((task, i) => spec(task, `tasks[${i}].`)) : [spec(parseBody(TaskBody, request.body), "")];
    const tasks = deps.tasks.submit(specs, request.actor);
    deps.auditor.recordMany(
      tasks.map((task) => ({
        actor: request.actor,
        action: "task.submit",
        node_id: task.target.node ?? null,
        command: task.command ?? `skill ${task.skill ?? "?"} ${JSON.stringify(task.params ?? {})}`,
        status: "queued",
        detail: { task_id: task.id, ip: request.ip },
      })),
    );
    return reply.code(201).send(batch ? { tasks: tasks.map((task) => taskView(task)), count: tasks.length } : taskView(tasks[0] as (typeof tasks)[number]));
  });

  app.get("/api/v1/tasks", scoped("read"), async (request) => {
    const query = parseBody(ListQuery, request.query);
    const tasks = deps.tasks.list(query);
    const last = tasks.at(-1);
    return { tasks: tasks.map((task) => taskView(task)), count: tasks.length, next_before: tasks.length === query.limit && last ? last.seq : null };
  });

  app.get<{ Params: { id: string } }>("/api/v1/tasks/:id", scoped("read"), async (request) => {
    const task = deps.tasks.get(request.params.id);
    return taskView(task, deps.tasks.attempts(task.id));
  });

  app.get<{ Params: { id: string } }>("/api/v1/tasks/:id/output", scoped("read"), async (request, reply) => {
    const query = parseBody(OutputQuery, request.query);
    const task = deps.tasks.get(request.params.id);
    const attempt = query.attempt ?? task.attempts;
    if (attempt < 1) throw new FleetError("not_found", `task ${task.id} has not run yet`);
    return reply.header("content-type", "text/plain; charset=utf-8").send(deps.tasks.output(task.id, attempt, query.stream));
  });

  app.post<{ Params: { id: string } }>("/api/v1/tasks/:id/cancel", scoped("exec"), async (request) => {
    const task = deps.tasks.cancel(request.params.id, request.actor);
    deps.auditor.record({ actor: request.actor, action: "task.cancel", node_id: task.node_id, status: task.state, detail: { task_id: task.id, ip: request.ip } });
    return taskView(task);
  });

  app.get<{ Params: { id: string } }>("/api/v1/tasks/:id/stream", scoped("read"), async (request, reply) => {
    const task = deps.tasks.get(request.params.id);
    const stream = openEventStream(request, reply);
    const send = stream.send;
    send("state", taskView(task));
    if (TaskService.isFinal(task)) {
      if (task.attempts > 0) {
        for (const stream of ["stdout", "stderr"] as const) {
          const data = deps.tasks.output(task.id, task.attempts, stream);
          if (data) send("output", { attempt: task.attempts, stream, data });
        }
      }
      send("end", taskView(task));
      stream.end();
      return;
    }
    const live = deps.tasks.liveOutput(task.id);
    if (live) for (const chunk of live.chunks) send("output", { attempt: live.attempt, ...chunk });
    stream.onClose(
      deps.tasks.subscribe(task.id, (event) => {
        if (event.event === "output") send("output", event.data);
        else {
          send(event.event, taskView(event.data));
          if (event.event === "end") stream.end();
        }
      }),
    );
  });
}

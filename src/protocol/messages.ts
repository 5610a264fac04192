/**
 * Wire messages (zod schemas are the single source of the format). Every message carries `v`,
 * the protocol version; every inbound message is validated at the edge with `decodeMessage`.
 */
import { z } from "zod";
import { ERROR_CODES } from "./errors.js";
import { NODE_ID_PATTERN } from "./subjects.js";
import { codePointName, controlCharacterAt } from "./text.js";

export const PROTOCOL_VERSION = 1;
/** Most task slots a node may announce (as worker.max_concurrent_tasks allows): a node cannot claim room for everyone's work. */
export const MAX_CONCURRENT_TASKS = 1024;

const v = z.literal(PROTOCOL_VERSION);
export const NodeIdSchema = z.string().regex(NODE_ID_PATTERN, "node id must match [a-z0-9][a-z0-9-]{0,62}");
export const LabelKeySchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$/, "label key must be 1-63 of [A-Za-z0-9_./-]");
export const LabelValueSchema = z.string().regex(/^[A-Za-z0-9_.-]{0,63}$/, "label value must be 0-63 of [A-Za-z0-9_.-]");
/** Most labels a node, a join, a heartbeat or a label selector may carry. */
export const MAX_LABELS = 64;
/**
 * Labels: at most MAX_LABELS pairs. The count is checked before any key or value is, so 50,000
 * labels are refused for what they are without 50,000 regular expressions run first.
 */
export const LabelsSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    if (typeof value !== "object" || value === null) return;
    const count = Object.keys(value).length;
    if (count > MAX_LABELS) ctx.addIssue({ code: "custom", message: `at most ${MAX_LABELS} labels are allowed (got ${count})` });
  })
  .pipe(z.record(LabelKeySchema, LabelValueSchema));
export type Labels = z.infer<typeof LabelsSchema>;

export const ErrorBodySchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** Load figures a worker reports in each heartbeat. Percentages are 0-100. */
export const LoadSchema = z.object({
  cpu: z.number().min(0).max(100),
  memory: z.number().min(0).max(100),
  disk: z.number().min(0).max(100),
  running_tasks: z.number().int().min(0),
  max_concurrent_tasks: z.number().int().min(1).max(MAX_CONCURRENT_TASKS),
});
export type Load = z.infer<typeof LoadSchema>;

/**
 * Free text a peer sends (a join's name, hostname, ...): bounded, and without control characters
 * (C0, DEL, C1, bidi overrides and isolates; see text.ts), which could rewrite an operator's
 * terminal when the text is printed. The error names the field (zod's path) and the character.
 */
export function plainText(max: number, min = 0) {
  return z
    .string()
    .min(min)
    .max(max)
    .superRefine((value, ctx) => {
      const at = controlCharacterAt(value);
      if (at >= 0) ctx.addIssue({ code: "custom", message: `contains the control character ${codePointName(value, at)} at position ${at}; only plain text is accepted` });
    });
}

/** What a worker says about itself when it asks to join. Signed by the node's key. */
export const JoinPayloadSchema = z.strictObject({
  node_id: NodeIdSchema,
  name: plainText(128, 1),
  hostname: plainText(255),
  os: plainText(64),
  arch: plainText(64),
  ips: z.array(plainText(64)).max(64),
  labels: LabelsSchema,
  capabilities: z.array(plainText(64)).max(128),
  version: plainText(64),
  max_concurrent_tasks: z.number().int().min(1).max(MAX_CONCURRENT_TASKS),
  ts: z.number().int(),
});
export type JoinPayload = z.infer<typeof JoinPayloadSchema>;

/**
 * Largest join request on the wire, over HTTP (body) and NATS (message) alike: the signed payload
 * is at most 64 KiB, with its key and signature. A larger one is refused before it is parsed.
 */
export const MAX_JOIN_REQUEST_BYTES = 80 * 1024;

/** Join request envelope: `payload` is the JSON text that `sig` signs with the key `public_key`. */
export const JoinRequestSchema = z.strictObject({
  v,
  public_key: z.string().min(1).max(128),
  payload: z.string().max(64 * 1024),
  sig: z.string().min(1).max(256),
});
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

export const JOIN_STATUSES = ["pending", "approved", "rejected"] as const;
export type JoinStatus = (typeof JOIN_STATUSES)[number];

export const JoinReplySchema = z.object({
  v,
  status: z.enum(JOIN_STATUSES),
  node_id: NodeIdSchema,
  request_id: z.string().optional(),
  message: z.string().optional(),
  /** NATS user JWT for this node (approved, over the HTTP enrollment only), bound to its key. */
  jwt: z.string().max(16 * 1024).optional(),
});
export type JoinReply = z.infer<typeof JoinReplySchema>;

/**
 * Largest heartbeat the coordinator reads; a larger one is dropped before it is parsed. A real one
 * is well under 20 KiB: MAX_LABELS labels of at most 63 + 63 characters and 128 capabilities of 64.
 */
export const MAX_HEARTBEAT_BYTES = 64 * 1024;

export const HeartbeatSchema = z.object({
  v,
  node_id: NodeIdSchema,
  ts: z.number().int(),
  seq: z.number().int().min(0),
  load: LoadSchema,
  labels: LabelsSchema.optional(),
  capabilities: z.array(plainText(64)).max(128).optional(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export const CONTROL_TYPES = ["approved", "rejected", "removed"] as const;
export const ControlSchema = z.object({
  v,
  type: z.enum(CONTROL_TYPES),
  node_id: NodeIdSchema,
  message: z.string().optional(),
});
export type Control = z.infer<typeof ControlSchema>;

const ExecFields = {
  v,
  id: z.string().min(1).max(64),
  command: z.string().min(1).max(64 * 1024),
  timeout_ms: z.number().int().min(1).max(24 * 3600 * 1000),
  max_output_bytes: z.number().int().min(0).max(64 * 1024 * 1024),
};

export const ExecRequestSchema = z.strictObject(ExecFields);
export type ExecRequest = z.infer<typeof ExecRequestSchema>;

/**
 * Fan-out exec on `<prefix>.bcast.exec`: every approved worker whose labels match `labels` runs it
 * and publishes its ExecResult on its own `<prefix>.node.<id>.bres` (the request has no reply subject).
 */
export const BroadcastRequestSchema = z.strictObject({ ...ExecFields, labels: LabelsSchema });
export type BroadcastRequest = z.infer<typeof BroadcastRequestSchema>;

export const EXEC_STATUSES = ["ok", "error", "timeout"] as const;
export type ExecStatus = (typeof EXEC_STATUSES)[number];

export const ExecResultSchema = z.object({
  v,
  id: z.string(),
  node_id: NodeIdSchema,
  status: z.enum(EXEC_STATUSES),
  exit_code: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  duration_ms: z.number().min(0),
  truncated: z.boolean(),
  error: ErrorBodySchema.optional(),
});
export type ExecResult = z.infer<typeof ExecResultSchema>;

/**
 * Capability calls. `sys.info` is built into every worker; the others are probed at start and
 * reported in joins and heartbeats.
 */
/** A picture size, WIDTHxHEIGHT. */
export const ResolutionSchema = z.string().regex(/^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$/, "must be WIDTHxHEIGHT, e.g. 1280x720");

export const CALL_CAPABILITIES = ["screen.capture", "camera.snap", "sys.info", "file.get", "file.put", "skills.list", "skill.run"] as const;
export type CallCapability = (typeof CALL_CAPABILITIES)[number];

/** A capability call on `<prefix>.node.<id>.call`. */
export const CallRequestSchema = z.strictObject({
  v,
  id: z.string().min(1).max(64),
  capability: z.enum(CALL_CAPABILITIES),
  params: z
    .strictObject({
      display: z.string().regex(/^[A-Za-z0-9:._-]{1,64}$/, "display must look like :0 or :1.0").optional(),
      /** screen.capture: scale down to at most this width. */
      max_width: z.number().int().min(16).max(16384).optional(),
      /** camera.snap: which camera (checked by the worker), the size and the format of the picture. */
      device: z.string().min(1).max(256).optional(),
      resolution: ResolutionSchema.optional(),
      format: z.enum(["jpeg", "png"]).optional(),
      /** skill.run: the skill's name and its parameters (validated by the worker against the skill's schema). */
      skill: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,47}$/, "skill names are lower-case letters, digits, dot, dash, underscore (up to 48)").optional(),
      args: z.record(z.string(), z.unknown()).optional(),
      /** file.get / file.put: the path on the node. */
      path: z.string().min(1).max(4096).optional(),
      /** file.put: the content (base64) and its SHA-256 (hex). */
      data: z.string().optional(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    })
    .default({}),
  timeout_ms: z.number().int().min(1).max(600_000),
});
export type CallRequest = z.infer<typeof CallRequestSchema>;

/** The answer: a file (base64) with its type, a JSON value, or an error such as capability_unavailable. */
export const CallResultSchema = z.object({
  v,
  id: z.string(),
  node_id: NodeIdSchema,
  mime: z.string().max(64).optional(),
  data: z.string().optional(),
  json: z.record(z.string(), z.unknown()).optional(),
  duration_ms: z.number().min(0),
  error: ErrorBodySchema.optional(),
});
export type CallResult = z.infer<typeof CallResultSchema>;

/** Any reply may instead be a typed error. */
export const ErrorReplySchema = z.object({ v, error: ErrorBodySchema });
export type ErrorReply = z.infer<typeof ErrorReplySchema>;

/** Events published for watchers on `<prefix>.evt.<name>`. */
export const EventSchema = z.object({
  v,
  type: z.string(),
  ts: z.number().int(),
  data: z.record(z.string(), z.unknown()),
});
export type FleetEvent = z.infer<typeof EventSchema>;

// --- durable tasks -----------------------------------------------------------------------------

/** What a task runs: a shell command, or a skill with parameters. */
export const TaskWorkSchema = z.union([
  z.strictObject({ kind: z.literal("command"), command: z.string().min(1).max(64 * 1024) }),
  z.strictObject({ kind: z.literal("skill"), skill: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,47}$/), params: z.record(z.string(), z.unknown()) }),
]);
export type TaskWork = z.infer<typeof TaskWorkSchema>;

/** Coordinator → worker on `<prefix>.node.<id>.task`: run this attempt, or cancel it. */
export const TaskMessageSchema = z.discriminatedUnion("type", [
  z.strictObject({
    v,
    type: z.literal("assign"),
    task_id: z.string().min(1).max(64),
    attempt: z.number().int().min(1),
    work: TaskWorkSchema,
    timeout_ms: z.number().int().min(1).max(7 * 24 * 3600 * 1000),
    max_output_bytes: z.number().int().min(1024).max(64 * 1024 * 1024),
  }),
  z.strictObject({ v, type: z.literal("cancel"), task_id: z.string().min(1).max(64), attempt: z.number().int().min(1) }),
]);
export type TaskMessage = z.infer<typeof TaskMessageSchema>;

/** The worker's answer to a TaskMessage. `duplicate`: this attempt is already known (no second run). */
export const TaskAckSchema = z.object({
  v,
  task_id: z.string(),
  attempt: z.number().int(),
  node_id: NodeIdSchema,
  status: z.enum(["accepted", "duplicate", "busy", "refused", "unknown"]),
  error: ErrorBodySchema.optional(),
});
export type TaskAck = z.infer<typeof TaskAckSchema>;

export const TASK_RESULT_STATES = ["succeeded", "failed", "timed_out", "cancelled", "lost"] as const;

/** Worker → coordinator on `<prefix>.node.<id>.tevt`. */
export const TaskEventSchema = z.discriminatedUnion("type", [
  z.strictObject({ v, type: z.literal("started"), node_id: NodeIdSchema, task_id: z.string().max(64), attempt: z.number().int().min(1), ts: z.number().int() }),
  z.strictObject({
    v,
    type: z.literal("output"),
    node_id: NodeIdSchema,
    task_id: z.string().max(64),
    attempt: z.number().int().min(1),
    seq: z.number().int().min(0),
    stream: z.enum(["stdout", "stderr"]),
    data: z.string(),
  }),
  z.strictObject({
    v,
    type: z.literal("done"),
    node_id: NodeIdSchema,
    task_id: z.string().max(64),
    attempt: z.number().int().min(1),
    /** `lost`: the worker restarted while this attempt ran (its process group was killed). */
    state: z.enum(TASK_RESULT_STATES),
    exit_code: z.number().int().nullable(),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    truncated: z.boolean(),
    started_at: z.number().int().nullable(),
    finished_at: z.number().int(),
    error: ErrorBodySchema.optional(),
  }),
]);
export type TaskEvent = z.infer<typeof TaskEventSchema>;
export type TaskDoneEvent = Extract<TaskEvent, { type: "done" }>;

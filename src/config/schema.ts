/**
 * The configuration schema. The seed's keys (storage, coordinator, worker, communication, log)
 * with the seed's defaults, plus a few optional keys documented in the README (Configuration).
 * Unknown keys are errors: a typo must never be silently ignored.
 */
import { z } from "zod";
import { LabelsSchema, MAX_CONCURRENT_TASKS, ResolutionSchema as resolution } from "../protocol/messages.js";

const port = z.number().int().min(0).max(65535);
const seconds = z.number().positive().max(86400);

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

const logLevel = z.preprocess(
  (value) => {
    if (typeof value !== "string") return value;
    const lower = value.toLowerCase();
    return lower === "warning" ? "warn" : lower === "critical" ? "fatal" : lower;
  },
  z.enum(LOG_LEVELS),
);

export const ConfigSchema = z.strictObject({
  storage: z
    .strictObject({
      type: z.literal("sqlite").default("sqlite"),
      path: z.string().min(1).default("./data/cluster.db"),
    })
    .prefault({}),
  coordinator: z
    .strictObject({
      host: z.string().min(1).default("0.0.0.0"),
      port: port.default(8888),
      heartbeat_timeout: seconds.default(90),
      heartbeat_check_interval: seconds.default(30),
      /** Approve every join request on arrival (off by default). */
      auto_approve: z.boolean().default(false),
      /** Join requests accepted per client address per minute (raise it for a fleet behind one NAT, or a simulator). */
      enroll_rate_per_minute: z.number().int().min(1).max(1_000_000).default(120),
      /** Pending join requests from one client address at once (raise it for many new workers behind one NAT address). */
      max_pending_per_address: z.number().int().min(1).max(1_000_000).default(50),
      /** Seconds a pending join request is kept after its worker last asked (a waiting worker asks about every 30 s). */
      pending_expiry: z.number().min(60).max(30 * 86400).default(3600),
      /** Where the admin token and runtime files live. */
      state_dir: z.string().min(1).default("~/.openclaw-federation/coordinator"),
      /** Default timeout of exec and broadcast when a request gives none. */
      exec_timeout: seconds.default(60),
      /** Serve the HTTP API over TLS with this certificate (PEM) and key (PEM, mode 0600); both or neither. */
      tls_cert: z.string().min(1).optional(),
      tls_key: z.string().min(1).optional(),
    })
    .prefault({}),
  worker: z
    .strictObject({
      max_concurrent_tasks: z.number().int().min(1).max(MAX_CONCURRENT_TASKS).default(5),
      heartbeat_interval: seconds.default(5),
      skills_dir: z.string().min(1).default("./skills"),
      /** Local status endpoint on 127.0.0.1; 0 picks a free port. */
      port: port.default(18789),
      state_dir: z.string().min(1).default("~/.openclaw-federation/worker"),
      /** Cap on each of stdout and stderr per command, in bytes. */
      max_output_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
      /** Labels of this node (at most 64; keys and values as in joins: the coordinator refuses others). */
      labels: LabelsSchema.default({}),
      /** Local exec policy; the coordinator cannot override it. */
      exec_policy: z.enum(["full", "allowlist", "deny"]).default("full"),
      /** Glob patterns (`*`, `?`) a whole command must match in allowlist mode, e.g. "df *". */
      exec_allowlist: z.array(z.string().min(1)).default([]),
      /** Environment variables passed to commands besides the basic ones (PATH, HOME, LANG, ...). */
      exec_env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name")).default([]),
      /** Working directory of commands (default: the home folder of the worker's user). */
      exec_workdir: z.string().min(1).default("~"),
      /** Folders `ocf cp` may read and write on this worker (default: the exec working directory). */
      file_roots: z.array(z.string().min(1)).optional(),
      /**
       * Whether `ocf cp` may write files here. Unset: yes under exec_policy full, no under allowlist
       * (deny refuses every file call). The worker's own config, state, skills and code are never written.
       */
      allow_file_writes: z.boolean().optional(),
      /** Largest file `ocf cp` moves to or from this worker (also bounded by the NATS max payload). */
      max_file_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      /** Camera for `ocf camera`: auto = v4l2 on Linux, avfoundation on macOS; lavfi takes an ffmpeg test source as the device. */
      camera_input: z.enum(["auto", "v4l2", "avfoundation", "lavfi"]).default("auto"),
      /** Default /dev/video0 (v4l2) or 0 (avfoundation); for lavfi e.g. testsrc=size=640x480:rate=5. */
      camera_device: z.string().min(1).max(512).optional(),
      /** Size of the picture, WIDTHxHEIGHT (default: what the camera gives). */
      camera_resolution: resolution.optional(),
      camera_format: z.enum(["jpeg", "png"]).default("jpeg"),
    })
    .prefault({}),
  /** Durable tasks (POST /api/v1/tasks): where they run and how long they are kept. */
  scheduler: z
    .strictObject({
      strategy: z.enum(["least_loaded", "round_robin", "random", "pinned"]).default("least_loaded"),
      /** Retries of a task whose attempt failed, timed out or lost its node, when a task gives none. */
      max_retries: z.number().int().min(0).max(100).default(0),
      /** Timeout of a task when it gives none (seconds). */
      task_timeout: z.number().positive().max(7 * 86400).default(3600),
      /** Keep finished tasks and their output this long (seconds; default 7 days). */
      retention: z.number().positive().max(3650 * 86400).default(7 * 86400),
    })
    .prefault({}),
  communication: z
    .strictObject({
      nats_url: z
        .string()
        .regex(/^(nats|tls|ws|wss):\/\/[^\s]+$/, "must be a URL like nats://HOST:4222")
        .default("nats://127.0.0.1:4222"),
      subject_prefix: z.string().regex(/^[A-Za-z0-9_-]+$/).default("ocf"),
      /**
       * Where a worker asks to join (HTTP API of the coordinator) before it has NATS credentials.
       * Default: http://<host of nats_url>:<coordinator.port>.
       */
      coordinator_url: z.string().regex(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, "must be a URL like http://HOST:8888").optional(),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: logLevel.default("info"),
      format: z.enum(["json", "text"]).default("json"),
      dir: z.string().min(1).default("./logs"),
    })
    .prefault({}),
});

export type Config = z.infer<typeof ConfigSchema>;
export type LogLevel = Config["log"]["level"];

/** Shapes of the coordinator's HTTP API (documented in docs/API.md): shared by server and client. */
import type { ErrorCode } from "./errors.js";
import type { Labels } from "./messages.js";

export interface NodeView {
  id: string;
  name: string;
  status: "online" | "offline";
  labels: Labels;
  capabilities: string[];
  os: string;
  arch: string;
  hostname: string;
  ips: string[];
  version: string;
  /** The node key's fingerprint (protocol/fingerprint.ts): first 16 hex of SHA-256 of the public key, grouped. */
  fingerprint: string;
  last_seen: string | null;
  approved_at: string | null;
  load: { cpu: number | null; memory: number | null; disk: number | null; running_tasks: number; max_concurrent_tasks: number };
}

export interface JoinRequestView {
  request_id: string;
  node_id: string;
  name: string;
  hostname: string;
  os: string;
  arch: string;
  ips: string[];
  labels: Labels;
  capabilities: string[];
  version: string;
  public_key: string;
  /** Fingerprint of `public_key` (as the worker logs it), to tell two requests for one node id apart. */
  fingerprint: string;
  /** The client address the request last came from (null over NATS or before addresses were kept). */
  address: string | null;
  status: "pending" | "approved" | "rejected";
  reason: string | null;
  created_at: string | null;
  updated_at: string | null;
  decided_at: string | null;
}

export type NodeResultStatus = "ok" | "error" | "timeout" | "offline";

export interface NodeExecResult {
  node: string;
  node_id: string;
  status: NodeResultStatus;
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  duration_ms: number;
  truncated: boolean;
  error?: { code: ErrorCode; message: string };
}

export interface BroadcastOutcome {
  id: string;
  command: string;
  labels: Labels;
  results: NodeExecResult[];
  summary: Record<NodeResultStatus, number> & { total: number; duration_ms: number };
}

export interface HealthReport {
  status: "ok" | "degraded";
  version: string;
  uptime_s: number;
  /** `secure`: the NATS server requires credentials (operator mode), so revocation cuts nodes off. */
  nats: { connected: boolean; secure: boolean };
  db: { ok: boolean };
  nodes: { total: number; online: number; offline: number; pending: number };
  /** Config reloads (SIGHUP or the file changed): keys waiting for a restart, the last refusal. */
  config?: { file: string | null; loaded_at: string; reloads: number; restart_required: string[]; last_error: string | null };
}

/** `POST /api/v1/pending/reject`: what was rejected (or, with `dry_run`, would be). */
export interface BulkRejectResult {
  rejected: JoinRequestView[];
  count: number;
  dry_run: boolean;
}

export interface ApiErrorBody {
  error: { code: ErrorCode; message: string; candidates?: unknown };
}

export interface AuditView {
  id: number;
  ts: string;
  actor: string;
  action: string;
  node_id: string | null;
  command: string | null;
  status: string | null;
  exit_code: number | null;
  duration_ms: number | null;
  detail: Record<string, unknown> | null;
}

export interface TokenView {
  id: string;
  name: string;
  scope: "read" | "exec" | "admin";
  created_at: string;
  created_by: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** `POST /api/v1/nodes/:id/rotate`: the node's NATS credentials were revoked; it fetches new ones. */
export interface RotateResult {
  node_id: string;
  revoked_at: string;
  /** False when the NATS server is not in operator mode: nothing was cut off. */
  secure: boolean;
}

/** `POST /api/v1/nodes/:id/screenshot` (201): the PNG is stored by the coordinator; fetch it from `file.url`. */
/** `POST /api/v1/nodes/:id/screenshot` and `/camera`: the picture, kept by the coordinator. */
export interface CaptureResult {
  node_id: string;
  file: { id: string; mime: string; bytes: number; sha256: string; url: string };
  width?: number;
  height?: number;
  duration_ms: number;
}
export type ScreenshotResult = CaptureResult;

/** One skill as a node reports it (src/worker/skills.ts). */
export interface SkillView {
  name: string;
  description: string;
  /** JSON schema of the parameters (an object). */
  parameters: Record<string, unknown>;
  timeout_s: number;
  requires: string[];
  available: boolean;
  missing?: string;
}

/** `GET /api/v1/nodes/:id/skills`, and one entry of `GET /api/v1/skills`. */
export interface NodeSkills {
  node_id: string;
  status: "ok" | "error" | "timeout" | "offline";
  skills: SkillView[];
  /** Folders in skills_dir that look like skills but could not be loaded, and why. */
  problems: Array<{ folder: string; error: string }>;
  skills_dir: string | null;
  error?: { code: ErrorCode | "internal"; message: string };
}

/** `POST /api/v1/nodes/:id/skills/:skill/run`. */
export interface SkillRunResult {
  node_id: string;
  skill: string;
  /** The parameters as run: validated, with defaults filled in. */
  params: Record<string, unknown>;
  status: "ok" | "error" | "timeout";
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  duration_ms: number;
  error?: { code: ErrorCode; message: string };
}

/** `GET /api/v1/nodes/:id/info`: what the node says about itself right now (see src/worker/sysinfo.ts). */
export interface NodeInfoResult {
  node_id: string;
  collected_at: string;
  duration_ms: number;
  info: {
    hostname?: string;
    os?: { platform: string; release: string; version: string; distro: string | null };
    arch?: string;
    cpu?: { model: string; cores: number; load: [number, number, number] };
    memory?: { total_bytes: number; available_bytes: number; used_percent: number };
    disks?: Array<{ mount: string; filesystem: string; size_bytes: number; used_bytes: number; available_bytes: number; used_percent: number }>;
    uptime_s?: number;
    network?: Array<{ name: string; addresses: string[]; mac: string | null }>;
    tailscale?: { ips: string[]; online: boolean | null; hostname: string | null } | null;
    node_version?: string;
    agent_version?: string;
  };
}

/** One attempt of a durable task (`GET /api/v1/tasks/:id`). */
export interface TaskAttemptView {
  attempt: number;
  node_id: string;
  state: "assigned" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "lost" | "rejected";
  assigned_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  exit_code: number | null;
  signal: string | null;
  /** The start of the output (64 KiB per stream); `output_file`: the whole is at /api/v1/tasks/:id/output. */
  stdout: string | null;
  stderr: string | null;
  truncated: boolean;
  output_file: boolean;
  error: string | null;
}

export type TaskStateName = "queued" | "assigned" | "running" | "succeeded" | "failed" | "timed_out" | "cancelled" | "lost";

/** A durable task (`/api/v1/tasks`). */
export interface TaskView {
  id: string;
  state: TaskStateName;
  kind: "command" | "skill";
  command: string | null;
  skill: string | null;
  params: Record<string, unknown> | null;
  target: { node?: string; labels?: Record<string, string> };
  requirements: { capabilities?: string[]; labels?: Record<string, string>; os?: string };
  priority: number;
  timeout_ms: number;
  max_retries: number;
  /** Attempts made so far (the current one's number). */
  attempt: number;
  failures: number;
  node_id: string | null;
  exit_code: number | null;
  /** Why it waits (queued), or how it ended. */
  reason: string | null;
  cancel_requested: boolean;
  submitted_by: string;
  created_at: string | null;
  updated_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  attempts?: TaskAttemptView[];
}

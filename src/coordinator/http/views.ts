/** How registry records look over the HTTP API (stable field names, ISO timestamps). */
import type { JoinRequestRecord } from "../../storage/join-requests.js";
import type { NodeRecord } from "../../storage/nodes.js";
import type { AuditView, JoinRequestView, NodeView, TaskView, TokenView } from "../../protocol/api.js";
import type { AuditRecord } from "../../storage/audit.js";
import type { AttemptRecord, TaskRecord } from "../../storage/tasks.js";
import type { TokenRecord } from "../../storage/tokens.js";
import { keyFingerprint } from "../../protocol/fingerprint.js";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** `scheduled`: the task attempts the scheduler has on the node (the worker's own count may lag a heartbeat). */
export function nodeView(node: NodeRecord, scheduled = 0): NodeView {
  return {
    id: node.id,
    name: node.name,
    status: node.status,
    labels: node.labels,
    capabilities: node.capabilities,
    os: node.os,
    arch: node.arch,
    hostname: node.hostname,
    ips: node.ips,
    version: node.version,
    fingerprint: keyFingerprint(node.public_key),
    last_seen: iso(node.last_seen),
    approved_at: iso(node.approved_at),
    load: {
      cpu: node.load?.cpu ?? null,
      memory: node.load?.memory ?? null,
      disk: node.load?.disk ?? null,
      running_tasks: Math.max(scheduled, node.load?.running_tasks ?? 0),
      max_concurrent_tasks: node.load?.max_concurrent_tasks ?? node.max_concurrent_tasks,
    },
  };
}

export function joinRequestView(request: JoinRequestRecord): JoinRequestView {
  return {
    request_id: request.request_id,
    node_id: request.node_id,
    name: request.payload.name,
    hostname: request.payload.hostname,
    os: request.payload.os,
    arch: request.payload.arch,
    ips: request.payload.ips,
    labels: request.payload.labels,
    capabilities: request.payload.capabilities,
    version: request.payload.version,
    public_key: request.public_key,
    fingerprint: keyFingerprint(request.public_key),
    address: request.address,
    status: request.status,
    reason: request.reason,
    created_at: iso(request.created_at),
    updated_at: iso(request.updated_at),
    decided_at: iso(request.decided_at),
  };
}

export function tokenView(record: TokenRecord): TokenView {
  return {
    id: record.id,
    name: record.name,
    scope: record.scope,
    created_at: new Date(record.created_at).toISOString(),
    created_by: record.created_by,
    last_used_at: iso(record.last_used_at),
    revoked_at: iso(record.revoked_at),
  };
}

export function taskView(task: TaskRecord, attempts?: readonly AttemptRecord[]): TaskView {
  return {
    id: task.id,
    state: task.state,
    kind: task.kind,
    command: task.command ?? null,
    skill: task.skill ?? null,
    params: task.params ?? null,
    target: task.target,
    requirements: task.requirements,
    priority: task.priority,
    timeout_ms: task.timeout_ms,
    max_retries: task.max_retries,
    attempt: task.attempts,
    failures: task.failures,
    node_id: task.node_id,
    exit_code: task.exit_code,
    reason: task.reason,
    cancel_requested: task.cancel_requested,
    submitted_by: task.submitted_by,
    created_at: iso(task.created_at),
    updated_at: iso(task.updated_at),
    started_at: iso(task.started_at),
    finished_at: iso(task.finished_at),
    duration_ms: task.started_at !== null && task.finished_at !== null ? task.finished_at - task.started_at : null,
    ...(attempts
      ? {
          attempts: attempts.map((a) => ({
            attempt: a.attempt,
            node_id: a.node_id,
            state: a.state,
            assigned_at: iso(a.assigned_at),
            started_at: iso(a.started_at),
            finished_at: iso(a.finished_at),
            exit_code: a.exit_code,
            signal: a.signal,
            stdout: a.stdout,
            stderr: a.stderr,
            truncated: a.truncated,
            output_file: a.output_file,
            error: a.error,
          })),
        }
      : {}),
  };
}

export function auditView(entry: AuditRecord): AuditView {
  return { ...entry, ts: new Date(entry.ts).toISOString(), node_id: entry.node_id ?? null, command: entry.command ?? null, status: entry.status ?? null, exit_code: entry.exit_code ?? null, duration_ms: entry.duration_ms ?? null, detail: entry.detail ?? null };
}

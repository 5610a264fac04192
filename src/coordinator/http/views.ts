/** How registry records look over the HTTP API (stable field names, ISO timestamps). */
import type { JoinRequestRecord } from "../../storage/join-requests.js";
import type { NodeRecord } from "../../storage/nodes.js";
import type { JoinRequestView, NodeView, TokenView } from "../../protocol/api.js";
import type { TokenRecord } from "../../storage/tokens.js";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function nodeView(node: NodeRecord): NodeView {
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
    last_seen: iso(node.last_seen),
    approved_at: iso(node.approved_at),
    load: {
      cpu: node.load?.cpu ?? null,
      memory: node.load?.memory ?? null,
      disk: node.load?.disk ?? null,
      running_tasks: node.load?.running_tasks ?? 0,
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

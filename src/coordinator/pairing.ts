/**
 * Pairing: join requests → pending → approved or rejected by an admin (or auto-approve).
 * A node id is bound to the key that was approved for it; a request for that id signed by
 * another key is refused and logged. Removing a node rejects its key for good.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { FleetError } from "../protocol/errors.js";
import type { JoinPayload, JoinReply, JoinStatus } from "../protocol/messages.js";
import { PROTOCOL_VERSION } from "../protocol/messages.js";
import type { JoinRequestRecord, JoinRequestRepository } from "../storage/join-requests.js";
import type { NodeRecord } from "../storage/nodes.js";
import type { Registry } from "./registry.js";
import type { AuditInput } from "./audit.js";
import { keyFingerprint } from "../protocol/fingerprint.js";
import { limited } from "../util/logger.js";

export interface PairingOptions {
  autoApprove: boolean;
  /** Keys approved on arrival for a given node id (`ocf up` pre-approves its own local worker). */
  preApproved?: ReadonlyArray<{ nodeId: string; publicKey: string }>;
  now?: () => number;
  /** Tell a node about a decision (approved / rejected / removed) about its key. */
  notify: (nodeId: string, type: "approved" | "rejected" | "removed", message: string, publicKey: string) => void;
  /** A key was rejected or its node removed: revoke whatever NATS credentials it holds. */
  revoke?: (publicKey: string, nodeId: string, reason: string) => void;
  logger: Logger;
  /** Record pairing decisions in the audit trail. */
  audit?: (entry: AuditInput) => void;
  /** Most pending requests at once; a new one beyond it is refused (default 1000). */
  maxPending?: number;
  /** Most pending requests from one client address (`coordinator.max_pending_per_address`, default 50). */
  maxPendingPerAddress?: number;
  /** A pending request whose worker has not asked for this long is dropped (`coordinator.pending_expiry`, default 1 h). */
  pendingExpiryMs?: number;
}

export const DEFAULT_MAX_PENDING = 1000;
export const DEFAULT_MAX_PENDING_PER_ADDRESS = 50;
export const DEFAULT_PENDING_EXPIRY_MS = 3_600_000;

export interface DecisionResult {
  request: JoinRequestRecord;
  node?: NodeRecord;
}

function newRequestId(): string {
  return randomBytes(4).toString("hex");
}

export class Pairing {
  private readonly now: () => number;
  /** When this coordinator started: a request cannot go stale while it was not running to hear it. */
  private readonly startedAt: number;
  private lastFullWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly registry: Registry,
    private readonly requests: JoinRequestRepository,
    private readonly options: PairingOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** New limits of pending requests (config reload). */
  setPendingLimits(limits: { maxPendingPerAddress?: number; pendingExpiryMs?: number }): void {
    if (limits.maxPendingPerAddress !== undefined) this.options.maxPendingPerAddress = limits.maxPendingPerAddress;
    if (limits.pendingExpiryMs !== undefined) this.options.pendingExpiryMs = limits.pendingExpiryMs;
  }

  /**
   * Handle a verified join request from `publicKey`. Over NATS (`via: "nats"`) only an approved
   * node may re-announce itself: the NATS server admits only nodes that hold credentials, and
   * the coordinator cannot tell which connection sent a message, so a first join goes over HTTP.
   */
  /** A new coordinator.auto_approve (config reload). */
  setAutoApprove(on: boolean): void {
    this.options.autoApprove = on;
  }

  /** `address`: the client address of an HTTP join (kept with the request, limits pending requests per address). */
  join(publicKey: string, payload: JoinPayload, via: "http" | "nats" = "http", address: string | null = null): JoinReply {
    const log = this.options.logger;
    const reply = (status: JoinStatus, extra: { request_id?: string; message?: string } = {}): JoinReply => ({
      v: PROTOCOL_VERSION,
      status,
      node_id: payload.node_id,
      ...extra,
    });
    const preApproved = this.options.preApproved?.some((entry) => entry.nodeId === payload.node_id && entry.publicKey === publicKey) ?? false;
    const existing = this.registry.get(payload.node_id);
    const owner = this.registry.findByKey(publicKey, payload.node_id);
    if (owner) {
      this.options.audit?.({ actor: "unknown", action: "pairing.refused", node_id: payload.node_id, status: "identity_mismatch", detail: { presented_key: publicKey, owner: owner.id } });
      throw new FleetError("identity_mismatch", `this key already belongs to node "${owner.id}"; a machine joins under one node id (remove "${owner.id}" first to rename it)`);
    }
    if (via === "nats" && !existing) {
      throw new FleetError("not_approved", `node "${payload.node_id}" is not approved; ask to join over the coordinator's HTTP API (POST /api/v1/enroll)`);
    }
    if (existing && existing.public_key !== publicKey && preApproved && via === "http") {
      // `ocf up` vouches for this key (its own local worker got a new identity): re-bind the id.
      log.warn({ node_id: existing.id, old_key: existing.public_key, new_key: publicKey }, "pre-approved local worker has a new key; re-binding its node id");
      this.remove(existing.id, "replaced by a new key pre-approved by ocf up", false, "ocf-up");
    } else if (existing) {
      if (existing.public_key !== publicKey) {
        limited(log).warn("join.identity-mismatch", { node_id: payload.node_id, presented_key: publicKey, approved_key: existing.public_key }, "join refused: node id is bound to another key");
        this.options.audit?.({ actor: "unknown", action: "pairing.refused", node_id: payload.node_id, status: "identity_mismatch", detail: { presented_key: publicKey, hostname: payload.hostname } });
        throw new FleetError("identity_mismatch", `node id "${payload.node_id}" is already approved with another key`);
      }
      this.registry.refresh(existing.id, this.fieldsOf(payload));
      return reply("approved", { message: "node is approved" });
    }

    const now = this.now();
    let request = this.requests.findByKey(payload.node_id, publicKey);
    if (request?.status === "rejected" && !preApproved) {
      return reply("rejected", { request_id: request.request_id, message: request.reason ?? "join request was rejected" });
    }
    if (request) {
      this.requests.refresh(request.request_id, payload, now, address);
      if (request.status !== "pending") {
        // Approved earlier but the node row is gone, or rejected but now pre-approved: pending again.
        this.requests.decide(request.request_id, "pending", null, now);
      }
      request = { ...request, payload, status: "pending", updated_at: now, address: address ?? request.address };
    } else {
      if (!preApproved) this.admitNewRequest(address);
      request = {
        request_id: newRequestId(),
        node_id: payload.node_id,
        public_key: publicKey,
        payload,
        status: "pending",
        reason: null,
        created_at: now,
        updated_at: now,
        decided_at: null,
        address,
      };
      this.requests.insert(request);
      log.info({ request_id: request.request_id, node_id: payload.node_id, hostname: payload.hostname, address }, "join request pending");
      this.options.audit?.({ actor: "unknown", action: "pairing.pending", node_id: payload.node_id, status: "pending", detail: { request_id: request.request_id, hostname: payload.hostname, public_key: publicKey, fingerprint: keyFingerprint(publicKey), address } });
    }

    if (this.options.autoApprove || preApproved) {
      this.approve(request.request_id, preApproved ? "ocf-up" : "auto_approve");
      return reply("approved", { request_id: request.request_id, message: "approved automatically" });
    }
    return reply("pending", { request_id: request.request_id, message: "waiting for an admin to approve" });
  }

  /**
   * The approved node `publicKey` belongs to (the node id a join claims is tried first, the one
   * case a member's own join takes), or undefined when the key is no member's.
   */
  memberWithKey(publicKey: string, claimedId: string): string | undefined {
    if (this.registry.get(claimedId)?.public_key === publicKey) return claimedId;
    return this.registry.findByKey(publicKey, claimedId)?.id;
  }

  pending(): JoinRequestRecord[] {
    return this.requests.listByStatus("pending");
  }

  /** How many requests are pending: one COUNT, for /health, /metrics and the dashboard (never the rows). */
  pendingCount(): number {
    return this.requests.countPending();
  }

  /** The `limit` pending requests asked about most recently (the dashboard shows these). */
  newestPending(limit: number): JoinRequestRecord[] {
    return this.requests.newestPending(limit);
  }

  /**
   * Room for one more pending request, in all and from `address`; throws rate_limited naming the
   * limit and how to make room. A full queue is first cleared of requests nobody asks about anymore.
   */
  private admitNewRequest(address: string | null): void {
    const maxPending = this.options.maxPending ?? DEFAULT_MAX_PENDING;
    const perAddress = this.options.maxPendingPerAddress ?? DEFAULT_MAX_PENDING_PER_ADDRESS;
    const full = (): boolean => this.requests.countPending() >= maxPending || (address !== null && this.requests.countPendingFrom(address) >= perAddress);
    if (!full()) return;
    this.expireStale();
    const pending = this.requests.countPending();
    if (pending >= maxPending) {
      const at = this.now();
      if (at - this.lastFullWarning >= 60_000) {
        this.lastFullWarning = at;
        this.options.logger.warn({ pending, address }, "join requests refused: the pending queue is full; reject the unwanted ones (ocf nodes reject --older-than 1h, --address IP)");
      }
      throw new FleetError("rate_limited", `the coordinator already holds ${pending} pending join requests (at most ${maxPending}); approve or reject some, then try again`);
    }
    const from = address === null ? 0 : this.requests.countPendingFrom(address);
    if (address !== null && from >= perAddress) {
      throw new FleetError(
        "rate_limited",
        `${from} pending join requests already came from ${address} (coordinator.max_pending_per_address is ${perAddress}); an admin must approve or reject them (ocf nodes reject --address ${address}), or they expire when their workers stop asking`,
      );
    }
  }

  /**
   * Drop pending requests whose worker has not asked for `pendingExpiryMs` while this coordinator
   * was running (a waiting worker asks about every 30 s). Each is audited as `pairing.expired`; a
   * worker that comes back simply starts a new request. Returns what was dropped.
   */
  expireStale(): JoinRequestRecord[] {
    const now = this.now();
    const cutoff = now - (this.options.pendingExpiryMs ?? DEFAULT_PENDING_EXPIRY_MS);
    if (cutoff <= this.startedAt) return [];
    const stale = this.requests.pendingNotAskedSince(cutoff);
    if (stale.length === 0) return [];
    this.requests.removeMany(stale.map((request) => request.request_id));
    for (const request of stale) {
      this.options.audit?.({
        actor: "coordinator",
        action: "pairing.expired",
        node_id: request.node_id,
        status: "expired",
        detail: { request_id: request.request_id, fingerprint: keyFingerprint(request.public_key), address: request.address, last_asked: new Date(request.updated_at).toISOString() },
      });
    }
    this.options.logger.info({ expired: stale.length, request_ids: stale.slice(0, 20).map((request) => request.request_id) }, "pending join requests expired: their workers stopped asking");
    return stale;
  }

  /** The pending requests a bulk selection matches (see pending-selection.ts), oldest first. */
  selectPending(matches: (request: JoinRequestRecord) => boolean): JoinRequestRecord[] {
    return this.pending().filter(matches);
  }

  /**
   * Reject several pending requests at once (one transaction). Each is audited and its waiting
   * worker told. A pending key never got credentials unless it was decided before (approved, its
   * node later lost): only those are revoked, so a flood of junk keys does not bloat the NATS
   * revocation list.
   */
  rejectMany(requests: readonly JoinRequestRecord[], reason: string, by = "admin"): JoinRequestRecord[] {
    const pending = requests.filter((request) => request.status === "pending");
    if (pending.length === 0) return [];
    const now = this.now();
    this.requests.decideMany(pending.map((request) => request.request_id), "rejected", reason, now);
    for (const request of pending) {
      this.options.audit?.({ actor: by, action: "pairing.reject", node_id: request.node_id, status: "rejected", detail: { request_id: request.request_id, reason, bulk: true } });
      if (request.decided_at !== null) this.options.revoke?.(request.public_key, request.node_id, reason);
      this.options.notify(request.node_id, "rejected", reason, request.public_key);
    }
    this.options.logger.info({ rejected: pending.length, by }, "join requests rejected in bulk");
    return pending.map((request) => ({ ...request, status: "rejected" as const, reason, decided_at: now, updated_at: now }));
  }

  /** Find a pending request by request id, or by node id when exactly one is pending for it. */
  findPending(ref: string): JoinRequestRecord {
    const byId = this.requests.get(ref);
    if (byId) return byId;
    const forNode = this.requests.forNode(ref).filter((request) => request.status === "pending");
    if (forNode.length === 1) return forNode[0] as JoinRequestRecord;
    if (forNode.length > 1) {
      throw new FleetError("ambiguous_node", `node "${ref}" has ${forNode.length} pending requests; use a request id`, {
        candidates: forNode.map((request) => request.request_id),
      });
    }
    throw new FleetError("not_found", `no join request "${ref}"`);
  }

  approve(ref: string, by = "admin"): DecisionResult {
    const request = this.findPending(ref);
    if (request.status !== "pending") {
      throw new FleetError("conflict", `join request ${request.request_id} is already ${request.status}`);
    }
    const existing = this.registry.get(request.node_id);
    if (existing && existing.public_key !== request.public_key) {
      throw new FleetError("conflict", `node id "${request.node_id}" is already approved with another key; remove that node first`);
    }
    const now = this.now();
    const node: NodeRecord = {
      id: request.node_id,
      ...this.fieldsOf(request.payload),
      public_key: request.public_key,
      approved_at: now,
      last_seen: request.updated_at,
      load: null,
      status: "offline",
    };
    // Status stays offline until the first heartbeat: the worker beats only once it listens for work.
    this.registry.add(node);
    this.requests.decide(request.request_id, "approved", by, now);
    for (const other of this.requests.forNode(request.node_id)) {
      if (other.status === "pending" && other.request_id !== request.request_id) {
        this.requests.decide(other.request_id, "rejected", "another key was approved for this node id", now);
      }
    }
    this.options.logger.info({ request_id: request.request_id, node_id: node.id, by }, "node approved");
    this.options.audit?.({ actor: by, action: "pairing.approve", node_id: node.id, status: "approved", detail: { request_id: request.request_id } });
    this.options.notify(node.id, "approved", "approved", node.public_key);
    return { request: { ...request, status: "approved", decided_at: now }, node: this.registry.get(node.id) ?? node };
  }

  reject(ref: string, reason = "rejected by admin", by = "admin"): DecisionResult {
    const request = this.findPending(ref);
    if (request.status !== "pending") {
      throw new FleetError("conflict", `join request ${request.request_id} is already ${request.status}`);
    }
    const now = this.now();
    this.requests.decide(request.request_id, "rejected", reason, now);
    this.options.logger.info({ request_id: request.request_id, node_id: request.node_id }, "join request rejected");
    this.options.audit?.({ actor: by, action: "pairing.reject", node_id: request.node_id, status: "rejected", detail: { request_id: request.request_id, reason } });
    this.options.revoke?.(request.public_key, request.node_id, reason);
    this.options.notify(request.node_id, "rejected", reason, request.public_key);
    return { request: { ...request, status: "rejected", reason, decided_at: now } };
  }

  /** Remove an approved node: it can no longer act, and its key is rejected from now on. */
  remove(nodeId: string, reason = "node was removed by an admin", notify = true, by = "admin"): NodeRecord {
    const node = this.registry.get(nodeId);
    if (!node) throw new FleetError("node_not_found", `no node "${nodeId}"`);
    const now = this.now();
    this.registry.remove(node.id);
    const request = this.requests.findByKey(node.id, node.public_key);
    if (request) {
      this.requests.decide(request.request_id, "rejected", reason, now);
    } else {
      this.requests.insert({
        request_id: newRequestId(),
        node_id: node.id,
        public_key: node.public_key,
        payload: { ...this.payloadOf(node), ts: now },
        status: "rejected",
        reason,
        created_at: now,
        updated_at: now,
        decided_at: now,
        address: null,
      });
    }
    this.options.logger.info({ node_id: node.id, reason }, "node removed");
    this.options.audit?.({ actor: by, action: "node.remove", node_id: node.id, status: "removed", detail: { reason } });
    if (notify) this.options.notify(node.id, "removed", reason, node.public_key);
    this.options.revoke?.(node.public_key, node.id, reason);
    return node;
  }

  private fieldsOf(payload: JoinPayload) {
    return {
      name: payload.name,
      hostname: payload.hostname,
      os: payload.os,
      arch: payload.arch,
      ips: payload.ips,
      labels: payload.labels,
      capabilities: payload.capabilities,
      version: payload.version,
      max_concurrent_tasks: payload.max_concurrent_tasks,
    };
  }

  private payloadOf(node: NodeRecord): Omit<JoinPayload, "ts"> {
    return {
      node_id: node.id,
      name: node.name,
      hostname: node.hostname,
      os: node.os,
      arch: node.arch,
      ips: node.ips,
      labels: node.labels,
      capabilities: node.capabilities,
      version: node.version,
      max_concurrent_tasks: node.max_concurrent_tasks,
    };
  }
}

/**
 * The enrollment doors. Over HTTP (`POST /api/v1/enroll`) a machine without NATS credentials
 * knocks: it sends a join request signed with the node's key (the signature is the authentication:
 * it proves the caller holds the key it names) and is answered pending, rejected, or approved with
 * a NATS user JWT bound to that key; a pending caller may wait (long poll) for the admin's
 * decision. Over NATS (`ocf.enroll`) an approved node re-announces itself. Both check the join's
 * signature, its freshness and that it was not seen before (join-guard.ts); HTTP is limited per
 * client address and in pending requests, NATS per signing key and in all. Over NATS the answer
 * goes only to the inbox of the node the verified key belongs to (see `joinOverNats`).
 */
import type { Logger } from "pino";
import { decodeMessage } from "../protocol/codec.js";
import { FleetError } from "../protocol/errors.js";
import { JoinRequestSchema, MAX_JOIN_REQUEST_BYTES, type JoinPayload, type JoinReply, type JoinRequest } from "../protocol/messages.js";
import { verifyJoinRequest } from "../protocol/signed-join.js";
import type { AuditInput } from "./audit.js";
import { JoinReplayGuard, NatsJoinLimiter, type NatsJoinLimits } from "./join-guard.js";
import type { Pairing } from "./pairing.js";
import { normalizeAddress } from "./pending-selection.js";
import { LimitedLog } from "../util/logger.js";

export interface EnrollmentOptions {
  pairing: Pairing;
  /** Issue the NATS user JWT of an approved node. */
  issueJwt: (nodeId: string, publicKey: string) => Promise<string>;
  logger: Logger;
  /** Requests per client address per minute (default 120: a waiting worker asks about twice a minute). */
  perMinute?: number;
  /** Freshness and replay checks (default: ±5 min, see join-guard.ts). */
  guard?: JoinReplayGuard;
  /** Limits of joins over NATS (default NATS_JOIN_LIMITS). */
  natsLimits?: NatsJoinLimits;
  /** Record refused joins (replayed, clock skew) in the audit trail. */
  audit?: (entry: AuditInput) => void;
  now?: () => number;
}

/** Longest a caller may wait for a decision in one request. */
export const MAX_ENROLL_WAIT_MS = 30_000;

/** Log lines about refused joins per minute and kind; the next line counts the rest. */
const REFUSALS_LOGGED_PER_MINUTE = 10;

/**
 * What became of a join over NATS. `sender` is the node whose inbox may receive the answer: the
 * approved node the join's verified key belongs to. It is undefined when the message was refused
 * before its signature was checked (over the limit in all, too large, malformed, a bad signature)
 * or when the key is no member's: then nobody can be answered, since a reply subject is only the
 * sender's word.
 */
export type NatsJoinOutcome = { ok: true; reply: JoinReply; sender: string } | { ok: false; error: FleetError; sender: string | undefined };

export class Enrollment {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly windows = new Map<string, { start: number; count: number }>();
  private readonly refusals: LimitedLog;
  private closed = false;
  private readonly now: () => number;
  readonly guard: JoinReplayGuard;
  private readonly natsLimiter: NatsJoinLimiter;

  constructor(private readonly options: EnrollmentOptions) {
    this.now = options.now ?? Date.now;
    this.guard = options.guard ?? new JoinReplayGuard({ now: this.now });
    this.natsLimiter = new NatsJoinLimiter(options.natsLimits, this.now);
    this.refusals = new LimitedLog(options.logger, REFUSALS_LOGGED_PER_MINUTE, this.now);
  }

  /** A decision was made about `publicKey`: answer its waiting request now. */
  wake(publicKey: string): void {
    const set = this.waiters.get(publicKey);
    if (!set) return;
    this.waiters.delete(publicKey);
    for (const resolve of set) resolve();
  }

  /** Stop waiting: every open long poll answers at once (the coordinator is stopping). */
  close(): void {
    this.closed = true;
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }

  /** Count one request from `client` (its address); throws rate_limited past the limit. Call before parsing. */
  admit(client: string): void {
    const perMinute = this.options.perMinute ?? 120;
    const at = this.now();
    let window = this.windows.get(client);
    if (!window || at - window.start >= 60_000) {
      if (this.windows.size > 10_000) this.windows.clear();
      window = { start: at, count: 0 };
      this.windows.set(client, window);
    }
    window.count += 1;
    if (window.count > perMinute) {
      throw new FleetError("rate_limited", `too many join requests from ${client}: at most ${perMinute} a minute; wait and try again`);
    }
  }

  private wait(publicKey: string, ms: number): Promise<void> {
    if (this.closed || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(publicKey);
      if (!set) {
        set = new Set();
        this.waiters.set(publicKey, set);
      }
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.get(publicKey)?.delete(done);
        if (this.waiters.get(publicKey)?.size === 0) this.waiters.delete(publicKey);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  /** Verify the signature, then accept the join once and only while fresh; refusals of a fresh or replayed join are audited. */
  private accept(request: JoinRequest, via: "http" | "nats", beforeGuard?: (payload: JoinPayload) => void): JoinPayload {
    return this.check(request, verifyJoinRequest(request), via, beforeGuard);
  }

  /** The freshness and replay checks of a verified join. */
  private check(request: JoinRequest, payload: JoinPayload, via: "http" | "nats", beforeGuard?: (payload: JoinPayload) => void): JoinPayload {
    beforeGuard?.(payload);
    try {
      this.guard.check(request, payload);
    } catch (error) {
      if (error instanceof FleetError && (error.code === "clock_skew" || error.code === "replayed")) {
        this.options.audit?.({ actor: "unknown", action: "pairing.refused", node_id: payload.node_id, status: error.code, detail: { via, public_key: request.public_key, ...(error.details ?? {}) } });
      }
      throw error;
    }
    return payload;
  }

  /**
   * A join over NATS (`ocf.enroll`): limited in all and by size before it is parsed, and per
   * signing key once its signature is checked. Never throws: the outcome says what to answer and
   * whom (`sender`); refusals are logged here (a few lines a minute per kind).
   */
  joinOverNats(data: Uint8Array): NatsJoinOutcome {
    let sender: string | undefined;
    try {
      if (data.length > MAX_JOIN_REQUEST_BYTES) {
        throw new FleetError("payload_too_large", `a join request is at most ${MAX_JOIN_REQUEST_BYTES} bytes; this one has ${data.length}`);
      }
      this.natsLimiter.admitAny();
      const request = decodeMessage(data, JoinRequestSchema);
      const verified = verifyJoinRequest(request);
      sender = this.options.pairing.memberWithKey(request.public_key, verified.node_id);
      const payload = this.check(request, verified, "nats", (claimed) => this.natsLimiter.admitKey(request.public_key, claimed.node_id));
      const reply = this.options.pairing.join(request.public_key, payload, "nats");
      // Pairing accepts a join over NATS only from a member's own key, so `sender` is that member.
      if (sender === undefined) throw new FleetError("internal", `a join over NATS for "${payload.node_id}" was accepted from a key no member holds`);
      return { ok: true, reply, sender };
    } catch (error) {
      const refusal = error instanceof FleetError ? error : new FleetError("internal", (error as Error).message);
      this.logRefusal(refusal, "nats");
      return { ok: false, error: refusal, sender };
    }
  }

  /** Log a refused join; a flood logs at most REFUSALS_LOGGED_PER_MINUTE lines a minute per error code. */
  logRefusal(error: FleetError, via: "http" | "nats"): void {
    const fields = { code: error.code, err: error.message, via };
    if (error.code === "internal") this.refusals.error(`join.${error.code}`, fields, "join request failed");
    else this.refusals.warn(`join.${error.code}`, fields, "join request refused");
  }

  /**
   * Handle one enrollment request over HTTP (admitted already) from client `address`, waiting up to
   * `waitMs` while pending. Limits of pending requests (in all, per address) are Pairing's.
   */
  async enroll(request: JoinRequest, waitMs: number, address: string | null = null): Promise<JoinReply> {
    const payload = this.accept(request, "http");
    const { pairing } = this.options;
    const from = address === null ? null : normalizeAddress(address);
    let reply = pairing.join(request.public_key, payload, "http", from);
    if (reply.status === "pending" && waitMs > 0) {
      await this.wait(request.public_key, Math.min(waitMs, MAX_ENROLL_WAIT_MS));
      reply = pairing.join(request.public_key, payload, "http", from);
    }
    if (reply.status === "approved") {
      reply = { ...reply, jwt: await this.options.issueJwt(payload.node_id, request.public_key) };
    }
    return reply;
  }
}

/**
 * Enrollment over HTTP: the one door a machine without NATS credentials may knock on.
 * `POST /api/v1/enroll` takes a join request signed with the node's key (the signature is the
 * authentication: it proves the caller holds the key it names) and answers pending, rejected,
 * or approved with a NATS user JWT bound to that key. A pending caller may wait (long poll) for
 * the admin's decision. Limited per client address and in the number of pending requests.
 */
import type { Logger } from "pino";
import { FleetError } from "../protocol/errors.js";
import type { JoinReply, JoinRequest } from "../protocol/messages.js";
import { verifyJoinRequest } from "../protocol/signed-join.js";
import type { Pairing } from "./pairing.js";

export interface EnrollmentOptions {
  pairing: Pairing;
  /** Issue the NATS user JWT of an approved node. */
  issueJwt: (nodeId: string, publicKey: string) => Promise<string>;
  logger: Logger;
  /** Requests per client address per minute (default 120: a waiting worker asks about twice a minute). */
  perMinute?: number;
  /** Most pending join requests kept at once; new keys beyond it are refused (default 1000). */
  maxPending?: number;
  now?: () => number;
}

/** Longest a caller may wait for a decision in one request. */
export const MAX_ENROLL_WAIT_MS = 30_000;

export class Enrollment {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly windows = new Map<string, { start: number; count: number }>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: EnrollmentOptions) {
    this.now = options.now ?? Date.now;
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

  /** Handle one enrollment request (admitted already), waiting up to `waitMs` while pending. */
  async enroll(request: JoinRequest, waitMs: number): Promise<JoinReply> {
    const payload = verifyJoinRequest(request);
    const { pairing } = this.options;
    const maxPending = this.options.maxPending ?? 1000;
    const pending = pairing.pending();
    if (pending.length >= maxPending && !pending.some((entry) => entry.public_key === request.public_key)) {
      this.options.logger.warn({ pending: pending.length, node_id: payload.node_id }, "join request refused: too many pending requests");
      throw new FleetError("rate_limited", `the coordinator already holds ${pending.length} pending join requests; approve or reject some, then try again`);
    }
    let reply = pairing.join(request.public_key, payload, "http");
    if (reply.status === "pending" && waitMs > 0) {
      await this.wait(request.public_key, Math.min(waitMs, MAX_ENROLL_WAIT_MS));
      reply = pairing.join(request.public_key, payload, "http");
    }
    if (reply.status === "approved") {
      reply = { ...reply, jwt: await this.options.issueJwt(payload.node_id, request.public_key) };
    }
    return reply;
  }
}

/**
 * What the enrollment door checks about a signed join before it acts on it, over HTTP and NATS:
 *
 * - Freshness: the payload's `ts` (ms since the epoch, signed with the rest) must be within
 *   ±JOIN_CLOCK_WINDOW_MS of the coordinator's clock, so a join captured yesterday is worthless.
 * - No replay: the same signed request (key and payload text) is accepted once. Its digest is
 *   remembered until its `ts` leaves the window, after which the clock check refuses it anyway; so
 *   the memory covers exactly the window, is pruned as it goes, and is bounded (MAX_REMEMBERED_JOINS).
 *   When full of live entries it refuses new joins (fail closed) rather than forget one early.
 * - Joins over NATS are rate-limited per signing key (verified, so a node can use up only its
 *   own allowance, never another's by claiming its id) and in all (NatsJoinLimiter).
 */
import { createHash } from "node:crypto";
import { FleetError } from "../protocol/errors.js";
import type { JoinPayload, JoinRequest } from "../protocol/messages.js";

/** How far a join's `ts` may be from the coordinator's clock, either way. */
export const JOIN_CLOCK_WINDOW_MS = 5 * 60_000;

/**
 * Most joins remembered at once. A join is remembered for at most 2 × the window (its ts may be up
 * to 5 min ahead), usually 5 min. 10,000 approved nodes re-announce every ~5 min (~10,000 in
 * memory), a reconnect storm of all of them adds 10,000, and 1,000 pending workers asking about
 * twice a minute add ~10,000: 100,000 leaves 2.5× room at ~130 bytes each (~13 MB).
 */
export const MAX_REMEMBERED_JOINS = 100_000;

/** Prune expired entries this often (and at most once a second while full). */
const PRUNE_EVERY_MS = 10_000;

/** "7 min 12 s", "3 h 2 min", "2 d 4 h". */
export function describeDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ""}`;
  return `${Math.floor(s / 86_400)} d${Math.floor((s % 86_400) / 3600) ? ` ${Math.floor((s % 86_400) / 3600)} h` : ""}`;
}

/** An ISO time for a ms timestamp a peer sent, or the number when it is not a date at all. */
function when(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `ts ${ms}`;
}

export interface JoinReplayGuardOptions {
  windowMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class JoinReplayGuard {
  /** Digest of (public key, payload text) → the time after which its ts is outside the window. */
  private readonly seen = new Map<string, number>();
  private lastPrune = Number.NEGATIVE_INFINITY;
  private readonly windowMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: JoinReplayGuardOptions = {}) {
    this.windowMs = options.windowMs ?? JOIN_CLOCK_WINDOW_MS;
    this.maxEntries = options.maxEntries ?? MAX_REMEMBERED_JOINS;
    this.now = options.now ?? Date.now;
  }

  /** Joins remembered now. */
  get size(): number {
    return this.seen.size;
  }

  /**
   * Accept a verified join once: throws `clock_skew` when its ts is outside the window, `replayed`
   * when the same signed request was accepted before, `rate_limited` when the memory is full.
   */
  check(request: JoinRequest, payload: JoinPayload): void {
    const now = this.now();
    const skew = payload.ts - now;
    if (!(Math.abs(skew) <= this.windowMs)) {
      throw new FleetError(
        "clock_skew",
        `this node's clock is ${describeDuration(skew)} ${skew < 0 ? "behind" : "ahead of"} the coordinator's (join signed at ${when(payload.ts)}, coordinator time ${new Date(now).toISOString()}); ` +
          `joins are accepted within ±${describeDuration(this.windowMs)}: fix the node's clock (turn on NTP, e.g. timedatectl set-ntp true) and it asks again by itself`,
        { skew_ms: skew },
      );
    }
    this.prune(now);
    const digest = createHash("sha256").update(request.public_key).update("\n").update(request.payload).digest("base64url").slice(0, 24);
    if (this.seen.has(digest)) {
      throw new FleetError("replayed", "this signed join request was received before; a node signs a new one (with a new ts) for every request, so a copy of an earlier one is refused");
    }
    if (this.seen.size >= this.maxEntries) {
      throw new FleetError("rate_limited", `the coordinator is holding ${this.seen.size} join requests of the last ${describeDuration(this.windowMs)} (its limit); try again in a minute`);
    }
    this.seen.set(digest, payload.ts + this.windowMs);
  }

  private prune(now: number): void {
    const since = now - this.lastPrune;
    if (since < PRUNE_EVERY_MS && !(this.seen.size >= this.maxEntries && since >= 1000)) return;
    this.lastPrune = now;
    for (const [digest, expires] of this.seen) if (expires < now) this.seen.delete(digest);
  }
}

/**
 * Limits of joins over NATS (`ocf.enroll`), where only approved nodes can publish and each join is
 * a re-announcement (fresh metadata), never a new member. Per signing key (checked by its
 * signature first, so it is what the sender proves, not the node id it claims): a node
 * re-announces every ~5 minutes and at each reconnect, so 10 a minute is far above need. In all: a token bucket
 * of 2,000 refilled at 100 a second; 10,000 nodes re-announce ~33 a second in steady state (3×
 * headroom), and when all of them reconnect at once (nats-server restarted with the coordinator)
 * 2,000 are served at once and the rest, answered `rate_limited`, try again 30-60 s later: all are
 * through in about two minutes while they keep working (heartbeats do not depend on it). Each
 * join costs a signature check and a database write, so this also caps what a flood costs.
 */
export const NATS_JOIN_LIMITS = { perKeyPerMinute: 10, burst: 2000, perSecond: 100 } as const;

export type NatsJoinLimits = { perKeyPerMinute: number; burst: number; perSecond: number };

/** Keys tracked at once before finished windows are dropped. */
const MAX_TRACKED_KEYS = 20_000;

export class NatsJoinLimiter {
  private tokens: number;
  private refilledAt: number;
  private readonly perKey = new Map<string, { start: number; count: number }>();
  private readonly now: () => number;

  constructor(
    private readonly limits: NatsJoinLimits = NATS_JOIN_LIMITS,
    now: () => number = Date.now,
  ) {
    this.now = now;
    this.tokens = limits.burst;
    this.refilledAt = now();
  }

  /** Count one message on the enroll subject, before it is even parsed; throws rate_limited when none is left. */
  admitAny(): void {
    const at = this.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((at - this.refilledAt) / 1000) * this.limits.perSecond);
    this.refilledAt = at;
    if (this.tokens < 1) {
      throw new FleetError("rate_limited", `the coordinator takes at most ${this.limits.perSecond} joins a second over NATS (bursts of ${this.limits.burst}); try again in a minute`);
    }
    this.tokens -= 1;
  }

  /**
   * Count one join whose signature by `publicKey` was verified; throws rate_limited past the
   * per-key limit. `nodeId` (the id it claims) only names it in the message.
   */
  admitKey(publicKey: string, nodeId: string): void {
    const at = this.now();
    let window = this.perKey.get(publicKey);
    if (!window || at - window.start >= 60_000) {
      if (this.perKey.size >= MAX_TRACKED_KEYS) {
        for (const [key, old] of this.perKey) if (at - old.start >= 60_000) this.perKey.delete(key);
        if (this.perKey.size >= MAX_TRACKED_KEYS) this.perKey.clear();
      }
      window = { start: at, count: 0 };
      this.perKey.set(publicKey, window);
    }
    window.count += 1;
    if (window.count > this.limits.perKeyPerMinute) {
      throw new FleetError("rate_limited", `too many joins over NATS signed by this key: at most ${this.limits.perKeyPerMinute} a minute per key (this one for node "${nodeId}"); try again in a minute`);
    }
  }
}

/**
 * How much the coordinator reads from one node: a token bucket per key (a node id taken from the
 * subject, which NATS lets only that node publish on), checked before a message is parsed, so a
 * node flooding its own subject costs a map lookup per message, not a JSON parse.
 */

export interface RateLimits {
  /** Messages a second, on average. */
  perSecond: number;
  /** Messages at once after a quiet spell. */
  burst: number;
}

/**
 * Heartbeats read per node: a worker beats every `worker.heartbeat_interval` (5 s by default, 0.2 s
 * in the tests) and once more on each reconnect or change; 10 a second with bursts of 20 is far
 * above that, and far below a flood.
 */
export const HEARTBEAT_RATE: RateLimits = { perSecond: 10, burst: 20 };

/** How often buckets that filled up again are forgotten. */
const PRUNE_EVERY_MS = 5_000;
/** Keys tracked at once (10,000 nodes fit twice); past it, buckets that are full again are forgotten. */
const MAX_KEYS = 20_000;

export class KeyedRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private prunedAt = 0;

  constructor(
    private readonly limits: RateLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Count one message under `key`: false when its bucket is empty (drop the message). */
  admit(key: string): boolean {
    const at = this.now();
    // Buckets that filled up again are dropped now and then, so a fleet beating every few seconds
    // keeps only its last couple of seconds' senders in memory (a new bucket starts full).
    if (at - this.prunedAt >= PRUNE_EVERY_MS) this.prune(at);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_KEYS) this.prune(at);
      bucket = { tokens: this.limits.burst, at };
      this.buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.limits.burst, bucket.tokens + ((at - bucket.at) / 1000) * this.limits.perSecond);
      bucket.at = at;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Forget buckets that have filled up again (a new one starts full: nothing is lost); then all. */
  private prune(at: number): void {
    this.prunedAt = at;
    const refill = (this.limits.burst / this.limits.perSecond) * 1000;
    for (const [key, bucket] of this.buckets) if (at - bucket.at >= refill) this.buckets.delete(key);
    if (this.buckets.size >= MAX_KEYS) this.buckets.clear();
  }
}

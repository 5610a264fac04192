/** The enrollment door's freshness and replay checks and the limits of joins over NATS, with a fake clock. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createUser } from "@nats-io/nkeys";
import { describeDuration, JOIN_CLOCK_WINDOW_MS, JoinReplayGuard, NATS_JOIN_LIMITS, NatsJoinLimiter } from "../../src/coordinator/join-guard.js";
import { FleetError, HTTP_STATUS, type ErrorCode } from "../../src/protocol/errors.js";
import { signJoinRequest } from "../../src/protocol/signed-join.js";
import { joinPayload } from "../helpers/fixtures.js";

const T0 = 1_800_000_000_000;

function clock(start = T0) {
  let now = start;
  return { now: (): number => now, advance: (ms: number): number => (now += ms) };
}

function refused(fn: () => unknown, code: ErrorCode): FleetError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FleetError, `expected a FleetError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected FleetError ${code}`);
}

describe("join freshness and replay", () => {
  const key = createUser();
  const join = (ts: number, nodeId = "pi") => {
    const request = signJoinRequest(key, joinPayload(nodeId, { ts }));
    return { request, payload: joinPayload(nodeId, { ts }) };
  };

  test("the window is ±5 minutes, one named constant", () => {
    assert.equal(JOIN_CLOCK_WINDOW_MS, 300_000);
  });

  test("a join older or newer than the window is refused, saying how far off the node's clock is and to fix it", () => {
    const c = clock();
    const guard = new JoinReplayGuard({ now: c.now });
    const old = join(T0 - JOIN_CLOCK_WINDOW_MS - 1);
    const error = refused(() => guard.check(old.request, old.payload), "clock_skew");
    assert.equal(HTTP_STATUS.clock_skew, 400);
    assert.match(error.message, /^this node's clock is 5 min behind the coordinator's \(join signed at 2027-01-15T07:54:59\.999Z, coordinator time 2027-01-15T08:00:00\.000Z\)/);
    assert.match(error.message, /fix the node's clock \(turn on NTP/);
    assert.deepEqual(error.details, { skew_ms: -JOIN_CLOCK_WINDOW_MS - 1 });
    const ahead = join(T0 + 2 * 3600_000 + 7 * 60_000);
    assert.match(refused(() => guard.check(ahead.request, ahead.payload), "clock_skew").message, /clock is 2 h 7 min ahead of the coordinator's/);
    // A year-old capture, and a ts that is not a date at all: refused, never a crash.
    const ancient = join(T0 - 365 * 86_400_000);
    assert.match(refused(() => guard.check(ancient.request, ancient.payload), "clock_skew").message, /365 d behind/);
    const absurd = join(Number.MAX_SAFE_INTEGER);
    assert.match(refused(() => guard.check(absurd.request, absurd.payload), "clock_skew").message, /ts 9007199254740991/);
    assert.equal(guard.size, 0, "nothing refused is remembered");
    // Just inside the window, both ways.
    for (const ts of [T0 - JOIN_CLOCK_WINDOW_MS, T0 + JOIN_CLOCK_WINDOW_MS]) {
      const fresh = join(ts);
      guard.check(fresh.request, fresh.payload);
    }
  });

  test("the same signed request is accepted once; a copy with another signature encoding is the same request", () => {
    const c = clock();
    const guard = new JoinReplayGuard({ now: c.now });
    const first = join(T0);
    guard.check(first.request, first.payload);
    const error = refused(() => guard.check(first.request, first.payload), "replayed");
    assert.equal(HTTP_STATUS.replayed, 409);
    assert.match(error.message, /received before/);
    c.advance(60_000);
    // The same bytes with the signature spelled differently (base64 ignores the line break): still refused.
    refused(() => guard.check({ ...first.request, sig: `${first.request.sig}\n` }, first.payload), "replayed");
    // The next request of the same node (a new ts) is fine.
    const next = join(T0 + 1);
    guard.check(next.request, next.payload);
    // Once the ts has left the window, the entry is forgotten and the clock check refuses it.
    c.advance(JOIN_CLOCK_WINDOW_MS);
    refused(() => guard.check(first.request, first.payload), "clock_skew");
  });

  test("the memory covers the window only: it is pruned as time passes", () => {
    const c = clock();
    const guard = new JoinReplayGuard({ now: c.now });
    for (let i = 0; i < 50; i += 1) {
      const fresh = join(c.now() + i);
      guard.check(fresh.request, fresh.payload);
    }
    assert.equal(guard.size, 50);
    c.advance(JOIN_CLOCK_WINDOW_MS + 60_000);
    const later = join(c.now());
    guard.check(later.request, later.payload);
    assert.equal(guard.size, 1, "expired entries were dropped");
  });

  test("the memory is bounded: when full of live entries, new joins are refused (rate_limited), never an entry forgotten early", () => {
    const c = clock();
    const guard = new JoinReplayGuard({ now: c.now, maxEntries: 3 });
    const joins = [0, 1, 2].map((i) => join(T0 + i));
    for (const j of joins) guard.check(j.request, j.payload);
    const fourth = join(T0 + 3);
    assert.match(refused(() => guard.check(fourth.request, fourth.payload), "rate_limited").message, /holding 3 join requests/);
    refused(() => guard.check(joins[0]!.request, joins[0]!.payload), "replayed");
    c.advance(JOIN_CLOCK_WINDOW_MS + 5000);
    const fifth = join(c.now());
    guard.check(fifth.request, fifth.payload);
    assert.equal(guard.size, 1);
  });

  test("describeDuration", () => {
    assert.equal(describeDuration(999), "1 s");
    assert.equal(describeDuration(-432_000), "7 min 12 s");
    assert.equal(describeDuration(300_000), "5 min");
    assert.equal(describeDuration(3 * 3600_000 + 120_000), "3 h 2 min");
    assert.equal(describeDuration(2 * 86_400_000 + 4 * 3600_000), "2 d 4 h");
  });
});

describe("limits of joins over NATS", () => {
  test("per signing key: 10 a minute, then rate_limited until the minute is over; another key claiming the same node has its own", () => {
    const c = clock();
    const limiter = new NatsJoinLimiter(NATS_JOIN_LIMITS, c.now);
    for (let i = 0; i < NATS_JOIN_LIMITS.perKeyPerMinute; i += 1) limiter.admitKey("KEY-ALPHA", "alpha");
    assert.match(refused(() => limiter.admitKey("KEY-ALPHA", "alpha"), "rate_limited").message, /signed by this key: at most 10 a minute per key \(this one for node "alpha"\)/);
    // Joins claiming alpha but signed by another key (a rogue node) count against that key only.
    for (let i = 0; i < NATS_JOIN_LIMITS.perKeyPerMinute; i += 1) limiter.admitKey("KEY-EVIL", "alpha");
    refused(() => limiter.admitKey("KEY-EVIL", "alpha"), "rate_limited");
    limiter.admitKey("KEY-BRAVO", "bravo");
    c.advance(60_000);
    limiter.admitKey("KEY-ALPHA", "alpha");
  });

  test("in all: a burst of 2,000, then 100 a second", () => {
    const c = clock();
    const limiter = new NatsJoinLimiter(NATS_JOIN_LIMITS, c.now);
    for (let i = 0; i < NATS_JOIN_LIMITS.burst; i += 1) limiter.admitAny();
    assert.match(refused(() => limiter.admitAny(), "rate_limited").message, /at most 100 joins a second over NATS/);
    c.advance(1000);
    for (let i = 0; i < 100; i += 1) limiter.admitAny();
    refused(() => limiter.admitAny(), "rate_limited");
    c.advance(3_600_000);
    for (let i = 0; i < NATS_JOIN_LIMITS.burst; i += 1) limiter.admitAny();
    refused(() => limiter.admitAny(), "rate_limited");
  });

  test("10,000 nodes reconnecting at once are all through within a few minutes, each unanswered join asked again after its timeout and a growing wait", () => {
    const c = clock();
    const limiter = new NatsJoinLimiter(NATS_JOIN_LIMITS, c.now);
    // Nodes waiting to (re-)announce, by the second they ask; all 10,000 ask in the first second.
    const due = new Map<number, string[]>([[0, Array.from({ length: 10_000 }, (_, i) => `n${i}`)]]);
    const unanswered = new Map<string, number>();
    let through = 0;
    let second = 0;
    for (; second < 600 && through < 10_000; second += 1) {
      c.advance(second === 0 ? 0 : 1000);
      for (const id of due.get(second) ?? []) {
        try {
          limiter.admitAny();
          limiter.admitKey(`key-${id}`, id);
          through += 1;
        } catch {
          // Over the limit in all, a join is dropped unanswered (it is not verified yet): the worker
          // waits out its 5 s timeout, then 5 s, 10 s, 20 s, ... (at most 60 s, +0-30 % jitter).
          const tries = (unanswered.get(id) ?? 0) + 1;
          unanswered.set(id, tries);
          const wait = Math.min(60, 5 * 2 ** (tries - 1));
          const retry = second + 5 + wait + Math.floor(((Number(id.slice(1)) % 31) / 100) * wait);
          due.set(retry, [...(due.get(retry) ?? []), id]);
        }
      }
    }
    assert.equal(through, 10_000);
    assert.ok(second <= 150, `all re-announced after ${second} s`);
    assert.ok(second > 60, `a burst of 10,000 is spread out (${second} s)`);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { FleetError } from "../../src/protocol/errors.js";
import { LINKS_PER_ACTOR, SESSIONS_PER_ACTOR, Sessions } from "../../src/coordinator/sessions.js";

test("one caller cannot use up everyone's login links: past its own share it gets rate_limited, others still get links", () => {
  const sessions = new Sessions();
  for (let i = 0; i < LINKS_PER_ACTOR; i += 1) sessions.createLink("token:reader", "read");
  assert.throws(
    () => sessions.createLink("token:reader", "read"),
    (error: unknown) => error instanceof FleetError && error.code === "rate_limited" && /token:reader already holds 10 unused login links/.test(error.message),
  );
  assert.ok(sessions.createLink("admin", "admin").token, "another caller still gets a link");
});

test("one caller logging in again and again ends only its own oldest sessions, never another caller's", () => {
  const sessions = new Sessions();
  const admin = sessions.consume(sessions.createLink("admin", "admin").token);
  assert.ok(admin);
  const reader: string[] = [];
  // Far more logins than the whole session table holds.
  for (let i = 0; i < 1200; i += 1) {
    const session = sessions.consume(sessions.createLink("token:reader", "read").token);
    assert.ok(session);
    reader.push(session.id);
  }
  assert.equal(sessions.get(admin.id)?.actor, "dashboard:admin", "the admin's session survives");
  const alive = reader.filter((id) => sessions.get(id) !== undefined);
  assert.equal(alive.length, SESSIONS_PER_ACTOR);
  assert.deepEqual(alive, reader.slice(-SESSIONS_PER_ACTOR), "the reader keeps its newest sessions");
});

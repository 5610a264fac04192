import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Writable } from "node:stream";
import { after, describe, test } from "node:test";
import { pino } from "pino";
import { LimitedLog } from "../../src/util/logger.js";

const REPO_ROOT = resolve(import.meta.dirname, "..", "..");
const scratch = mkdtempSync(join(tmpdir(), "ocf-logger-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Run a small ESM script in a fresh Node process (with tsx), from the repository root. */
function runScript(source: string): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", source], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30_000 });
  return { status: result.status, stderr: result.stderr };
}

describe("createLogger", () => {
  test("a process that logs and exits at once keeps its lines and exits cleanly", () => {
    const dir = join(scratch, "exit-now");
    const { status, stderr } = runScript(
      `import { createLogger } from "./src/util/logger.ts";
       const log = createLogger({ name: "worker", level: "info", dir: ${JSON.stringify(dir)}, console: "none" });
       log.info("first line");
       process.exit(0);`,
    );
    assert.equal(stderr, "", "no 'sonic boom is not ready yet' crash on exit");
    assert.equal(status, 0);
    const lines = readFileSync(join(dir, "worker.log"), "utf8").trim().split("\n");
    assert.equal(lines.length, 1);
    assert.equal((JSON.parse(lines[0] as string) as { msg: string }).msg, "first line");
  });

  test("secrets under the usual field names are redacted", () => {
    const dir = join(scratch, "redact");
    runScript(
      `import { createLogger } from "./src/util/logger.ts";
       const log = createLogger({ name: "c", level: "info", dir: ${JSON.stringify(dir)}, console: "none", sync: true });
       log.info({ token: "t0p", jwt: "eyJ", nested: { seed: "SUAB" }, headers: { authorization: "Bearer x" } }, "with secrets");`,
    );
    const text = readFileSync(join(dir, "c.log"), "utf8");
    for (const secret of ["t0p", "eyJ", "SUAB", "Bearer x"]) assert.equal(text.includes(secret), false, secret);
    assert.match(text, /\[redacted\]/);
  });
});

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: (): number => now, advance: (ms: number): void => void (now += ms) };
}

describe("LimitedLog", () => {
  function capture() {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().trim().split("\n")) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    return { lines, logger: pino({ level: "info" }, sink) };
  }

  test("at most N lines a minute per key; the next line says how many were left out", async () => {
    const { lines, logger } = capture();
    const c = clock();
    const log = new LimitedLog(logger, 10, c.now);
    for (let i = 0; i < 20_000; i += 1) log.warn("heartbeat.invalid", { i }, "invalid heartbeat ignored");
    for (let i = 0; i < 5; i += 1) log.warn("http.wrong-token", { i }, "rejected request with a wrong token");
    c.advance(60_000);
    assert.equal(log.warn("heartbeat.invalid", { i: -1 }, "invalid heartbeat ignored"), true);
    assert.equal(log.debug("heartbeat.invalid", {}, "below the level"), false, "a filtered line uses up nothing");
    await new Promise((r) => setImmediate(r));
    const invalid = lines.filter((line) => line.msg === "invalid heartbeat ignored");
    assert.equal(invalid.length, 11);
    assert.equal(invalid[10]?.suppressed_before, 20_000 - 10);
    assert.equal(invalid[0]?.suppressed_before, undefined);
    assert.equal(lines.filter((line) => line.msg === "rejected request with a wrong token").length, 5, "keys are counted apart");
  });
});

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";

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

/** ocf cp: files to and from a node, confined to worker.file_roots, checked by SHA-256, bounded in size. */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ClientError, FleetClient } from "../../src/client/client.js";
import { runCli, TestFleet } from "../helpers/fleet.js";

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

async function refused(promise: Promise<unknown>, code: string, status: number): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ClientError, String(error));
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    return error.message;
  }
  assert.fail(`expected ${code}`);
}

describe("files to and from a node", () => {
  const fleet = new TestFleet();
  let shared = "";
  let outside = "";

  before(async () => {
    await fleet.startNats();
    await fleet.startCoordinator();
    shared = join(fleet.dir, "shared");
    outside = join(fleet.dir, "outside");
    mkdirSync(join(shared, "sub"), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "secret.txt"), "not yours\n");
    symlinkSync(join(outside, "secret.txt"), join(shared, "link-out.txt"));
    await fleet.addApprovedWorker("nas", { workdir: shared, worker: { file_roots: [shared], max_file_bytes: 256 * 1024 } });
    await fleet.addApprovedWorker("locked", { workdir: shared, worker: { exec_policy: "deny", file_roots: [shared] } });
  });
  after(() => fleet.close());

  test("round trip through the API keeps every byte and the checksum", async () => {
    const data = randomBytes(100_000);
    const put = await fleet.client.putFile("nas", "sub/blob.bin", data, sha256(data));
    assert.equal(put.path, join(shared, "sub", "blob.bin"));
    assert.equal(put.bytes, data.length);
    assert.equal(put.sha256, sha256(data));
    assert.ok(readFileSync(join(shared, "sub", "blob.bin")).equals(data));
    const got = await fleet.client.getFile("nas", join(shared, "sub", "blob.bin"));
    assert.ok(got.data.equals(data));
    assert.equal(got.sha256, sha256(data));
    const audit = await fleet.client.audit({ node: "nas", limit: 2 });
    assert.deepEqual(audit.map((entry) => entry.action), ["file.get", "file.put"]);
  });

  test("ocf cp both ways", async () => {
    const env = { OCF_URL: fleet.coordinator?.url, OCF_TOKEN: fleet.token };
    const local = join(fleet.dir, "report.txt");
    writeFileSync(local, "quarterly numbers\n");
    const up = await runCli(["cp", local, "nas:sub/"], { env });
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /→ nas:.*\/shared\/sub\/report\.txt \(18 bytes, sha256 /);
    const back = join(fleet.dir, "back.txt");
    const down = await runCli(["cp", "nas:sub/report.txt", back], { env });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(readFileSync(back, "utf8"), "quarterly numbers\n");
    const both = await runCli(["cp", "nas:a", "nas:b"], { env });
    assert.equal(both.code, 2);
  });

  test("paths outside the roots are refused: traversal, absolute paths, symlinks out", async () => {
    assert.match(await refused(fleet.client.getFile("nas", "../outside/secret.txt"), "policy_denied", 403), /outside the folders this worker shares/);
    await refused(fleet.client.getFile("nas", "/etc/passwd"), "policy_denied", 403);
    await refused(fleet.client.getFile("nas", "link-out.txt"), "policy_denied", 403);
    await refused(fleet.client.putFile("nas", "../outside/planted.txt", Buffer.from("x"), sha256(Buffer.from("x"))), "policy_denied", 403);
    assert.equal(existsSync(join(outside, "planted.txt")), false);
    await refused(fleet.client.putFile("nas", "link-out.txt", Buffer.from("x"), sha256(Buffer.from("x"))), "policy_denied", 403);
    assert.equal(readFileSync(join(outside, "secret.txt"), "utf8"), "not yours\n");
  });

  test("size limits, a wrong checksum, missing files and folders", async () => {
    const big = randomBytes(300 * 1024);
    assert.match(await refused(fleet.client.putFile("nas", "big.bin", big, sha256(big)), "payload_too_large", 413), /limit is 262144 \(worker\.max_file_bytes\)/);
    writeFileSync(join(shared, "big-local.bin"), big);
    await refused(fleet.client.getFile("nas", "big-local.bin"), "payload_too_large", 413);
    const data = Buffer.from("hello");
    assert.match(await refused(fleet.client.putFile("nas", "x.txt", data, sha256(Buffer.from("other"))), "bad_request", 400), /checksum mismatch/);
    assert.equal(existsSync(join(shared, "x.txt")), false);
    await refused(fleet.client.getFile("nas", "nope.txt"), "not_found", 404);
    await refused(fleet.client.putFile("nas", "no/such/dir/x.txt", data, sha256(data)), "not_found", 404);
    await refused(fleet.client.getFile("nas", "sub"), "bad_request", 400);
    // Written files are private to the worker's user.
    await fleet.client.putFile("nas", "private.txt", data, sha256(data));
    assert.equal(statSync(join(shared, "private.txt")).mode & 0o777, 0o600);
  });

  test("exec_policy deny refuses files; a read token may not touch them", async () => {
    writeFileSync(join(shared, "visible.txt"), "v");
    assert.match(await refused(fleet.client.getFile("locked", "visible.txt"), "policy_denied", 403), /exec_policy: deny/);
    const reader = new FleetClient({ url: fleet.coordinator?.url ?? "", token: (await fleet.client.createToken("file-reader", "read")).token });
    await refused(reader.getFile("nas", "visible.txt"), "forbidden", 403);
  });
});

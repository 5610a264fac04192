import assert from "node:assert/strict";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createAccount, fromPublic } from "@nats-io/nkeys";
import { IDENTITY_FILE, loadOrCreateIdentity } from "../../src/worker/identity.js";
import { scratchDirs } from "../helpers/fixtures.js";

const { freshDir } = scratchDirs("identity");

const mode = (path: string): number => statSync(path).mode & 0o777;

describe("loadOrCreateIdentity", () => {
  test("creates identity.seed with mode 0600 on first call", () => {
    const dir = freshDir();
    const { key, created, path } = loadOrCreateIdentity(dir);
    assert.equal(created, true);
    assert.equal(IDENTITY_FILE, "identity.seed");
    assert.equal(path, join(dir, "identity.seed"));
    assert.equal(mode(path), 0o600);
    const seed = readFileSync(path, "utf8");
    assert.match(seed, /^SU[A-Z2-7]+\n$/, "an nkeys user seed on one line");
    assert.ok(key.getPublicKey().startsWith("U"), "a user key");
  });

  test("the second call loads the same key", () => {
    const dir = freshDir();
    const first = loadOrCreateIdentity(dir);
    const before = readFileSync(first.path, "utf8");
    const second = loadOrCreateIdentity(dir);
    assert.equal(second.created, false);
    assert.equal(second.path, first.path);
    assert.equal(second.key.getPublicKey(), first.key.getPublicKey());
    assert.equal(readFileSync(first.path, "utf8"), before, "the file is not rewritten");
    // The loaded key signs what the first one would verify.
    const data = new TextEncoder().encode("join me");
    assert.ok(fromPublic(first.key.getPublicKey()).verify(data, second.key.sign(data)));
  });

  test("different state dirs get different identities", () => {
    assert.notEqual(loadOrCreateIdentity(freshDir()).key.getPublicKey(), loadOrCreateIdentity(freshDir()).key.getPublicKey());
  });

  test("a missing state dir is created with mode 0700", () => {
    const dir = join(freshDir(), "worker", "state");
    const { created, path } = loadOrCreateIdentity(dir);
    assert.equal(created, true);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(path), 0o600);
  });

  test("a corrupted seed file gives a clear error and is left untouched", () => {
    const dir = freshDir();
    const path = join(dir, IDENTITY_FILE);
    writeFileSync(path, "this is not a seed\n", { mode: 0o600 });
    assert.throws(
      () => loadOrCreateIdentity(dir),
      (error: Error) => {
        assert.ok(error.message.startsWith(`${path} does not hold a valid node key (`), error.message);
        assert.match(error.message, /move it away to create a new identity$/);
        return true;
      },
    );
    assert.equal(readFileSync(path, "utf8"), "this is not a seed\n");
    // A truncated real seed is refused too.
    const good = loadOrCreateIdentity(freshDir());
    writeFileSync(path, readFileSync(good.path, "utf8").slice(0, 20));
    assert.throws(() => loadOrCreateIdentity(dir), /does not hold a valid node key/);
  });

  test("a seed readable by others is refused", () => {
    const dir = freshDir();
    const { path } = loadOrCreateIdentity(dir);
    chmodSync(path, 0o644);
    assert.throws(() => loadOrCreateIdentity(dir), (error: Error) => error.message.includes(`chmod 600 ${path}`));
  });

  test("an existing seed with surrounding whitespace is accepted", () => {
    const dir = freshDir();
    const { key, path } = loadOrCreateIdentity(dir);
    writeFileSync(path, `\n  ${readFileSync(path, "utf8").trim()}  \n\n`);
    assert.equal(loadOrCreateIdentity(dir).key.getPublicKey(), key.getPublicKey());
  });

  test("an account or operator seed is refused: a node key must be a user key", () => {
    const dir = freshDir();
    const path = join(dir, IDENTITY_FILE);
    writeFileSync(path, `${new TextDecoder().decode(createAccount().getSeed())}\n`, { mode: 0o600 });
    assert.throws(() => loadOrCreateIdentity(dir), /holds a A-type nkey, not a user key/);
  });
});

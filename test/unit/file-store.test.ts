import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { FileStore } from "../../src/coordinator/files.js";
import { FleetError } from "../../src/protocol/errors.js";
import { tempDir } from "../helpers/fleet.js";

const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(16)]);

test("the file store keeps only real PNG and JPEG pictures: an inherited type name or bytes of another kind are refused", () => {
  const dir = tempDir();
  try {
    const store = new FileStore(join(dir.path, "files"));
    const refused = (mime: string, data: Buffer): void =>
      assert.throws(() => store.save(data, mime), (error: unknown) => error instanceof FleetError && error.code === "exec_failed", `${mime} was stored`);
    // A node chose these: "constructor" used to pass the type lookup and store arbitrary bytes.
    refused("constructor", Buffer.from("#!/bin/sh\necho hi\n"));
    refused("__proto__", PNG);
    refused("text/html", Buffer.from("<script>alert(1)</script>"));
    refused("image/png", Buffer.from("<script>alert(1)</script>"));
    refused("image/jpeg", PNG);
    const saved = store.save(PNG, "image/png");
    assert.deepEqual(store.get(saved.id), { mime: "image/png", data: PNG });
    const jpeg = store.save(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]), "image/jpeg");
    assert.equal(store.get(jpeg.id).mime, "image/jpeg");
  } finally {
    dir.cleanup();
  }
});

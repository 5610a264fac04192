/**
 * Files the fleet brings back (screenshots, camera shots): stored by the coordinator under
 * `<state_dir>/files/` with mode 0600 and served by id (`GET /api/v1/files/:id`), never inlined in
 * JSON. Ids are random; nothing a client sends becomes part of a path. Files older than the
 * retention are removed when a new one is saved.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { FleetError } from "../protocol/errors.js";
import { ensurePrivateDir, writeFileAtomic } from "../util/files.js";

const EXTENSIONS: Record<string, string> = { "image/png": "png", "image/jpeg": "jpg" };
/** The first bytes every file of a stored type starts with. */
const SIGNATURES: Record<string, Buffer> = { "image/png": Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), "image/jpeg": Buffer.from([0xff, 0xd8, 0xff]) };
const ID_PATTERN = /^[0-9a-f]{24}$/;

export interface StoredFile {
  id: string;
  mime: string;
  bytes: number;
  sha256: string;
  path: string;
}

export class FileStore {
  constructor(
    readonly dir: string,
    private readonly retentionMs = 7 * 24 * 3600 * 1000,
  ) {
    ensurePrivateDir(dir);
  }

  save(data: Buffer, mime: string): StoredFile {
    // The type comes from a node: only the types listed (never an inherited key such as
    // "constructor"), and the bytes must be of that type.
    const extension = Object.hasOwn(EXTENSIONS, mime) ? EXTENSIONS[mime] : undefined;
    const signature = Object.hasOwn(SIGNATURES, mime) ? SIGNATURES[mime] : undefined;
    if (!extension || !signature) throw new FleetError("exec_failed", `the node sent a file of type ${JSON.stringify(mime.slice(0, 64))}; only PNG and JPEG pictures are stored`);
    if (!data.subarray(0, signature.length).equals(signature)) throw new FleetError("exec_failed", `the node sent a file said to be ${mime} that is not one (its first bytes do not match); nothing was stored`);
    this.prune();
    const id = randomBytes(12).toString("hex");
    const path = join(this.dir, `${id}.${extension}`);
    writeFileAtomic(path, data, 0o600);
    return { id, mime, bytes: data.length, sha256: createHash("sha256").update(data).digest("hex"), path };
  }

  get(id: string): { mime: string; data: Buffer } {
    if (!ID_PATTERN.test(id)) throw new FleetError("not_found", `no file "${id.slice(0, 64)}"`);
    for (const [mime, extension] of Object.entries(EXTENSIONS)) {
      const path = join(this.dir, `${id}.${extension}`);
      if (existsSync(path)) return { mime, data: readFileSync(path) };
    }
    throw new FleetError("not_found", `no file "${id}" (files are kept ${Math.round(this.retentionMs / 86_400_000)} days)`);
  }

  private prune(): void {
    const cutoff = Date.now() - this.retentionMs;
    for (const name of readdirSync(this.dir)) {
      const path = join(this.dir, name);
      try {
        if (statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
      } catch {
        // removed meanwhile
      }
    }
  }
}

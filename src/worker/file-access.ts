/**
 * `ocf cp` on the worker: reads and writes confined to `worker.file_roots` (default: the exec
 * working directory). Paths are resolved, symlinks included, before the check, so `..` and links
 * cannot leave a root. Sizes are bounded; writes are atomic and verified by SHA-256.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync, rmSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

export class FileAccessError extends Error {
  constructor(
    readonly code: "policy_denied" | "bad_request" | "not_found" | "payload_too_large",
    message: string,
  ) {
    super(message);
  }
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The real path of `path`, or of its deepest existing ancestor joined with the rest. */
function realOrAncestor(path: string): string {
  let current = path;
  const rest: string[] = [];
  while (!existsSync(current)) {
    const parent = dirname(current);
    if (parent === current) break;
    rest.unshift(basename(current));
    current = parent;
  }
  return join(realpathSync(current), ...rest);
}

export class FileAccess {
  private readonly roots: string[];

  constructor(
    roots: string[],
    private readonly workdir: string,
    readonly maxBytes: number,
  ) {
    this.roots = roots.map((root) => (existsSync(root) ? realpathSync(root) : resolve(root)));
  }

  /** The absolute, real path for `path` (relative paths start in the workdir), if it lies inside a root. */
  resolve(path: string): string {
    if (path.length === 0 || path.length > 4096 || path.includes("\0")) throw new FileAccessError("bad_request", "path must be 1-4096 characters without NUL");
    const absolute = realOrAncestor(isAbsolute(path) ? resolve(path) : resolve(this.workdir, path));
    const inside = this.roots.some((root) => {
      const rel = relative(root, absolute);
      return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
    });
    if (!inside) throw new FileAccessError("policy_denied", `${path} is outside the folders this worker shares (worker.file_roots: ${this.roots.join(", ")})`);
    return absolute;
  }

  read(path: string): { path: string; data: Buffer; sha256: string } {
    const absolute = this.resolve(path);
    if (!existsSync(absolute)) throw new FileAccessError("not_found", `${path} does not exist`);
    const stats = statSync(absolute);
    if (!stats.isFile()) throw new FileAccessError("bad_request", `${path} is not a regular file`);
    if (stats.size > this.maxBytes) throw new FileAccessError("payload_too_large", `${path} is ${stats.size} bytes; the limit is ${this.maxBytes} (worker.max_file_bytes)`);
    const data = readFileSync(absolute);
    return { path: absolute, data, sha256: sha256(data) };
  }

  write(path: string, data: Buffer, expectedSha256?: string): { path: string; bytes: number; sha256: string } {
    if (data.length > this.maxBytes) throw new FileAccessError("payload_too_large", `the file is ${data.length} bytes; the limit is ${this.maxBytes} (worker.max_file_bytes)`);
    const digest = sha256(data);
    if (expectedSha256 && expectedSha256 !== digest) throw new FileAccessError("bad_request", `checksum mismatch: received ${digest}, expected ${expectedSha256}`);
    const absolute = this.resolve(path);
    if (existsSync(absolute) && !statSync(absolute).isFile()) throw new FileAccessError("bad_request", `${path} exists and is not a regular file`);
    if (!existsSync(dirname(absolute))) throw new FileAccessError("not_found", `folder ${dirname(path)} does not exist`);
    const temp = join(dirname(absolute), `.${basename(absolute)}.ocf-${process.pid}-${Date.now()}.tmp`);
    try {
      writeFileSync(temp, data, { mode: 0o600 });
      renameSync(temp, absolute);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    return { path: absolute, bytes: data.length, sha256: digest };
  }
}

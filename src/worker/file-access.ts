/**
 * `ocf cp` on the worker: reads and writes confined to `worker.file_roots` (default: the exec
 * working directory). Paths are resolved, symlinks included, before the check, so `..` and links
 * cannot leave a root. Inside the roots, this worker's own places (its config, state, credentials,
 * skills and code: src/worker/protected.ts) are refused, checked on the real path of both the
 * request and the place at every call. Sizes are bounded; writes are atomic and verified by SHA-256.
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

/** A place the fleet may not touch through file calls, whatever the roots say. */
export interface ProtectedPlace {
  /** Absolute path of a folder (everything inside counts) or a file; it need not exist yet. */
  path: string;
  /** What it is, for the refusal: "this worker's own state folder". */
  what: string;
  /** The setting that names it, for the refusal: "worker.state_dir". */
  setting: string;
  /** Secrets are refused to reads too; the others only to writes. */
  secret: boolean;
}

/** The real path of `path`, or of its deepest existing ancestor joined with the rest. */
export function realOrAncestor(path: string): string {
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

/** Whether `child` is `parent` or inside it; `foldCase` compares as darwin and win32 file systems do. */
export function isWithin(parent: string, child: string, foldCase = false): boolean {
  const fold = (path: string): string => (foldCase ? path.normalize("NFC").toLowerCase() : path);
  const rel = relative(fold(parent), fold(child));
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/** Platforms whose file systems usually ignore case (APFS, HFS+, NTFS). */
export function foldsCase(platform: NodeJS.Platform): boolean {
  return platform === "darwin" || platform === "win32";
}

export interface FileAccessOptions {
  /** worker.file_roots, resolved (default: the workdir). */
  roots: readonly string[];
  /** Where relative paths start (worker.exec_workdir). */
  workdir: string;
  /** worker.max_file_bytes. */
  maxBytes: number;
  /** This worker's own places, asked on every call (they follow a config reload). */
  protectedPlaces?: () => readonly ProtectedPlace[];
  /** Compare protected paths ignoring case (default: on darwin and win32). */
  platform?: NodeJS.Platform;
}

export type FileOperation = "read" | "write";

export class FileAccess {
  private roots: string[] = [];
  private readonly workdir: string;
  readonly maxBytes: number;
  private readonly places: () => readonly ProtectedPlace[];
  private readonly foldCase: boolean;

  constructor(options: FileAccessOptions) {
    this.workdir = options.workdir;
    this.maxBytes = options.maxBytes;
    this.places = options.protectedPlaces ?? (() => []);
    this.foldCase = foldsCase(options.platform ?? process.platform);
    this.setRoots(options.roots);
  }

  /** Change the shared folders (worker.file_roots changed by a config reload). */
  setRoots(roots: readonly string[]): void {
    this.roots = roots.map((root) => (existsSync(root) ? realpathSync(root) : resolve(root)));
  }

  get sharedRoots(): readonly string[] {
    return this.roots;
  }

  /**
   * The absolute, real path for `path` (relative paths start in the workdir), if it lies inside a
   * root and is none of this worker's protected places (for a read: none of its secrets).
   */
  resolve(path: string, operation: FileOperation): string {
    if (path.length === 0 || path.length > 4096 || path.includes("\0")) throw new FileAccessError("bad_request", "path must be 1-4096 characters without NUL");
    const lexical = isAbsolute(path) ? resolve(path) : resolve(this.workdir, path);
    const absolute = realOrAncestor(lexical);
    if (!this.roots.some((root) => isWithin(root, absolute))) {
      throw new FileAccessError("policy_denied", `${path} is outside the folders this worker shares (worker.file_roots: ${this.roots.join(", ")})`);
    }
    const hit = this.protectedPlace(lexical, absolute, operation);
    if (hit) {
      const { place, exact } = hit;
      const may = place.secret ? "read or write" : "write";
      throw new FileAccessError("policy_denied", `${path} is ${exact ? "" : "inside "}${place.what} (${place.setting}: ${place.path}); the fleet may not ${may} it`);
    }
    return absolute;
  }

  /** The protected place `lexical` (or its real path `absolute`) falls in, for this operation. */
  private protectedPlace(lexical: string, absolute: string, operation: FileOperation): { place: ProtectedPlace; exact: boolean } | undefined {
    for (const place of this.places()) {
      if (operation === "read" && !place.secret) continue;
      const named = resolve(place.path);
      // The place as named and as it really is: a symlinked parent, or a link inside a root, leads to the same real folder.
      let real = named;
      try {
        real = realOrAncestor(named);
      } catch {
        // Unreadable ancestor: the named path still counts.
      }
      for (const candidate of named === real ? [named] : [named, real]) {
        for (const target of [absolute, lexical]) {
          if (isWithin(candidate, target, this.foldCase)) return { place, exact: isWithin(target, candidate, this.foldCase) };
        }
      }
    }
    return undefined;
  }

  read(path: string): { path: string; data: Buffer; sha256: string } {
    const absolute = this.resolve(path, "read");
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
    const absolute = this.resolve(path, "write");
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

/** Files that hold secrets: created with mode 0600 in folders with mode 0700, written atomically. */
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Write `content` to `path` atomically (temp file + rename) with the given mode. */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o600): void {
  ensurePrivateDir(dirname(path));
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fd = openSync(temp, "w", mode);
  try {
    if (typeof content === "string") writeSync(fd, content);
    else writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(temp, mode);
  renameSync(temp, path);
}

/** Read a secret file, refusing one that others can read. Returns undefined when it does not exist. */
export function readPrivateFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new Error(`${path} has mode ${mode.toString(8).padStart(4, "0")}; it holds a secret and must be 0600 (run: chmod 600 ${path})`);
  }
  return readFileSync(path, "utf8");
}

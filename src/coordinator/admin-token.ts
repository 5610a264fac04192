/** The admin token: generated at first start into the state dir (mode 0600), compared in constant time. */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import { readPrivateFile, writeFileAtomic } from "../util/files.js";

export const ADMIN_TOKEN_FILE = "admin.token";

export function adminTokenPath(stateDir: string): string {
  return join(stateDir, ADMIN_TOKEN_FILE);
}

/** Load the token, creating it when absent. `created` tells the caller to print it once. */
export function loadOrCreateAdminToken(stateDir: string): { token: string; path: string; created: boolean } {
  const path = adminTokenPath(stateDir);
  const existing = readPrivateFile(path)?.trim();
  if (existing) return { token: existing, path, created: false };
  const token = `ocf_${randomBytes(32).toString("base64url")}`;
  writeFileAtomic(path, `${token}\n`, 0o600);
  return { token, path, created: true };
}

const digest = (value: string): Buffer => createHash("sha256").update(value).digest();

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokensEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * A node key's fingerprint: the first 16 hex digits of the SHA-256 of its public key (the nkeys
 * text, "U..."), in groups of four: "3f2a-9c01-77de-b4e0". Short enough to read aloud, stable, and
 * the same wherever it is computed: the worker logs its own, the API and the CLI show each request's
 * and node's, so two requests for one node id can be told apart and checked against the machine.
 */
import { createHash } from "node:crypto";

export function keyFingerprint(publicKey: string): string {
  const hex = createHash("sha256").update(publicKey).digest("hex");
  return `${hex.slice(0, 4)}-${hex.slice(4, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}`;
}

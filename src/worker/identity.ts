/** The node's Ed25519 identity (an nkeys user key), created on first start, kept 0600 in the state dir. */
import { join } from "node:path";
import { createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";
import { nativeSigner } from "../protocol/ed25519.js";
import { readPrivateFile, writeFileAtomic } from "../util/files.js";

export const IDENTITY_FILE = "identity.seed";

/** The key comes back with native Ed25519 (nkeys recomputes the public key in pure JS on every use). */
export function loadOrCreateIdentity(stateDir: string): { key: KeyPair; created: boolean; path: string } {
  const path = join(stateDir, IDENTITY_FILE);
  const existing = readPrivateFile(path)?.trim();
  if (existing) {
    let key: KeyPair;
    try {
      key = nativeSigner(fromSeed(new TextEncoder().encode(existing)));
    } catch (error) {
      throw new Error(`${path} does not hold a valid node key (${(error as Error).message}); move it away to create a new identity`, { cause: error });
    }
    if (!key.getPublicKey().startsWith("U")) {
      throw new Error(`${path} holds a ${key.getPublicKey()[0]}-type nkey, not a user key (seed "SU..."); move it away to create a new identity`);
    }
    return { key, created: false, path };
  }
  const key = nativeSigner(createUser());
  writeFileAtomic(path, `${new TextDecoder().decode(key.getSeed())}\n`, 0o600);
  return { key, created: true, path };
}

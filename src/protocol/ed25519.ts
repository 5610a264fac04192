/**
 * nkeys keys as Node's native Ed25519 key objects. The pure-JS signatures of @nats-io/nkeys cost a
 * few milliseconds each; a fleet joining at once needs one verify (the signed join) and one sign
 * (the node's JWT) per node, so both run through node:crypto instead.
 */
import { createPrivateKey, createPublicKey, sign as signNative, verify as verifyNative, type KeyObject } from "node:crypto";
import { Prefix, type KeyPair } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";

/** The public half of an nkeys public key (prefix byte, 32 key bytes; CRC16 checked by nkeys' codec) as a native key. */
export function nativePublicKey(publicKey: string): KeyObject {
  const raw = Buffer.from(Codec._decode(new TextEncoder().encode(publicKey)).subarray(1, 33));
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

/** PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

const signers = new WeakMap<KeyPair, KeyPair>();

/**
 * The same key pair with its signatures and its public key computed natively from the seed
 * (Ed25519 is deterministic: the bytes are identical to nkeys' own; nkeys recomputes the public key
 * in pure JS on every getPublicKey, some 2 ms each). Cached per key pair.
 */
export function nativeSigner(key: KeyPair): KeyPair {
  const cached = signers.get(key);
  if (cached) return cached;
  const { prefix, buf: seed } = Codec.decodeSeed(key.getSeed());
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
  const rawPublic = Buffer.from((createPublicKey(privateKey).export({ format: "jwk" }) as { x: string }).x, "base64url");
  const publicKey = new TextDecoder().decode(Codec.encode(prefix, rawPublic));
  const signer: KeyPair = {
    getPublicKey: () => publicKey,
    getPrivateKey: () => Codec.encode(Prefix.Private, Buffer.concat([seed, rawPublic])),
    getSeed: () => key.getSeed(),
    sign: (input) => new Uint8Array(signNative(null, input, privateKey)),
    verify: (input, sig) => key.verify(input, sig),
    clear: () => key.clear(),
    seal: (input, recipient, nonce) => key.seal(input, recipient, nonce),
    open: (message, sender) => key.open(message, sender),
  };
  signers.set(key, signer);
  return signer;
}

/**
 * @nats-io/jwt's decode (the claims of a NATS JWT whose signature by its issuer checks out) with the
 * signature verified natively: the pure-JS verify costs ~15 ms, ~60 ms in a worker (no optimizing
 * compiler there). Same checks: three parts, typ JWT, alg ed25519 or ed25519-nkey, issuer's signature.
 */
export function decodeVerifiedJwt<T extends { iss?: string }>(jwt: string): T {
  const chunks = jwt.split(".");
  if (chunks.length !== 3) throw new Error(`invalid jwt - ${chunks.length} chunks`);
  const [head, body, sig] = chunks as [string, string, string];
  const header = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { typ?: string; alg?: string };
  if (header.typ !== "jwt" && header.typ !== "JWT") throw new Error(`not a nats jwt - typ ${String(header.typ)}`);
  if (header.alg !== "ed25519" && header.alg !== "ed25519-nkey") throw new Error(`not a nats jwt - alg ${String(header.alg)}`);
  const claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as T;
  if (typeof claims.iss !== "string") throw new Error("the jwt names no issuer");
  const signed = header.alg === "ed25519-nkey" ? `${head}.${body}` : body;
  if (!verifyNative(null, Buffer.from(signed), nativePublicKey(claims.iss), Buffer.from(sig, "base64url"))) throw new Error("sig verification failed");
  return claims;
}

/**
 * Signed join requests. The worker signs the exact JSON text of its join payload with its Ed25519
 * node key (nkeys user key, public key starting with "U"); the coordinator verifies the signature
 * before it trusts any field, so a request cannot claim a key it does not hold.
 */
import { verify as verifySignature } from "node:crypto";
import { fromPublic, type KeyPair } from "@nats-io/nkeys";
import { describeZodError } from "./codec.js";
import { nativePublicKey, nativeSigner } from "./ed25519.js";
import { FleetError } from "./errors.js";
import { JoinPayloadSchema, PROTOCOL_VERSION, type JoinPayload, type JoinRequest } from "./messages.js";

const encoder = new TextEncoder();

export function signJoinRequest(key: KeyPair, payload: JoinPayload): JoinRequest {
  const text = JSON.stringify(payload);
  const signer = nativeSigner(key);
  return {
    v: PROTOCOL_VERSION,
    public_key: signer.getPublicKey(),
    payload: text,
    sig: Buffer.from(signer.sign(encoder.encode(text))).toString("base64"),
  };
}

/** Verify the signature, then validate the payload. Throws FleetError(bad_request) naming the problem. */
export function verifyJoinRequest(request: JoinRequest): JoinPayload {
  if (!request.public_key.startsWith("U")) {
    throw new FleetError("bad_request", "public_key must be an nkeys user key (starting with U)");
  }
  let valid: boolean;
  try {
    // fromPublic checks the key's form and checksum; the signature is checked natively (ed25519.ts).
    fromPublic(request.public_key);
    valid = verifySignature(null, encoder.encode(request.payload), nativePublicKey(request.public_key), Buffer.from(request.sig, "base64"));
  } catch (error) {
    throw new FleetError("bad_request", `bad public key or signature: ${(error as Error).message}`);
  }
  if (!valid) throw new FleetError("bad_request", "signature does not match public_key");
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.payload);
  } catch {
    throw new FleetError("bad_request", "payload is not valid JSON");
  }
  const result = JoinPayloadSchema.safeParse(parsed);
  if (!result.success) throw new FleetError("bad_request", `invalid join payload: ${describeZodError(result.error)}`);
  return result.data;
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { createAccount, createOperator, createUser, fromPublic } from "@nats-io/nkeys";
import { decode, encodeUser } from "@nats-io/jwt";
import { nativePublicKey, nativeSigner } from "../../src/protocol/ed25519.js";
import { signJoinRequest, verifyJoinRequest } from "../../src/protocol/signed-join.js";
import { verify } from "node:crypto";

const data = new TextEncoder().encode("the same bytes either way");

test("native signer gives nkeys' exact signatures, public and private keys", () => {
  for (const key of [createUser(), createAccount(), createOperator()]) {
    const native = nativeSigner(key);
    assert.equal(native.getPublicKey(), key.getPublicKey());
    assert.deepEqual(Buffer.from(native.getPrivateKey()), Buffer.from(key.getPrivateKey()));
    assert.deepEqual(Buffer.from(native.sign(data)), Buffer.from(key.sign(data)));
    assert.equal(fromPublic(key.getPublicKey()).verify(data, native.sign(data)), true);
    assert.equal(verify(null, data, nativePublicKey(key.getPublicKey()), native.sign(data)), true);
    assert.equal(nativeSigner(key), native, "cached per key pair");
  }
});

test("a JWT issued through the native signer verifies with nkeys", async () => {
  const account = createAccount();
  const user = createUser();
  const jwt = await encodeUser("n1", user.getPublicKey(), nativeSigner(account), {});
  const claims = decode(jwt);
  assert.equal(claims.iss, account.getPublicKey());
  assert.equal(claims.sub, user.getPublicKey());
  const [head, body, sig] = jwt.split(".") as [string, string, string];
  assert.equal(fromPublic(account.getPublicKey()).verify(new TextEncoder().encode(`${head}.${body}`), Buffer.from(sig, "base64url")), true);
});

test("signed joins round-trip and a tampered payload is refused", () => {
  const key = createUser();
  const request = signJoinRequest(key, { node_id: "n1", name: "n1", hostname: "h", os: "linux", arch: "x64", ips: [], labels: {}, capabilities: [], version: "t", max_concurrent_tasks: 1, ts: 1 });
  assert.equal(request.public_key, key.getPublicKey());
  assert.equal(verifyJoinRequest(request).node_id, "n1");
  assert.throws(() => verifyJoinRequest({ ...request, payload: request.payload.replace('"n1"', '"n2"') }), /signature does not match/);
});

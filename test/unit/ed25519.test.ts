import assert from "node:assert/strict";
import { test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator, createUser, fromPublic, fromSeed } from "@nats-io/nkeys";
import { jwtAuthenticator } from "@nats-io/transport-node";
import { decode, encodeUser } from "@nats-io/jwt";
import { decodeVerifiedJwt, nativePublicKey, nativeSigner } from "../../src/protocol/ed25519.js";
import { signJoinRequest, verifyJoinRequest } from "../../src/protocol/signed-join.js";
import { jwtSigner } from "../../src/transport/connection.js";
import { loadOrCreateIdentity } from "../../src/worker/identity.js";
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

test("the NATS authenticator signs the server's nonce as nats.js' jwtAuthenticator does, and follows new credentials", () => {
  const first = createUser();
  const second = createUser();
  let creds = { jwt: "jwt-one", seed: first.getSeed() };
  const auth = jwtSigner(() => creds);
  const expected = jwtAuthenticator(() => creds.jwt, () => creds.seed);
  assert.deepEqual(auth("a-server-nonce"), expected("a-server-nonce"));
  assert.deepEqual(auth(undefined), expected(undefined), "no nonce, no signature");
  creds = { jwt: "jwt-two", seed: second.getSeed() };
  const now = auth("another-nonce") as { jwt: string; nkey: string; sig: string };
  assert.deepEqual(now, expected("another-nonce"));
  assert.equal(now.nkey, second.getPublicKey());
});

test("a worker identity loads with native keys and keeps its seed", () => {
  const dir = mkdtempSync(join(tmpdir(), "ocf-identity-"));
  try {
    const created = loadOrCreateIdentity(dir);
    const again = loadOrCreateIdentity(dir);
    assert.equal(created.created, true);
    assert.equal(again.created, false);
    assert.equal(again.key.getPublicKey(), created.key.getPublicKey());
    assert.equal(again.key.getPublicKey(), fromSeed(again.key.getSeed()).getPublicKey());
    assert.deepEqual(Buffer.from(again.key.sign(data)), Buffer.from(fromSeed(again.key.getSeed()).sign(data)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a NATS JWT decodes natively exactly when @nats-io/jwt's decode accepts it", async () => {
  const account = createAccount();
  const user = createUser();
  const jwt = await encodeUser("n1", user.getPublicKey(), account, {});
  assert.deepEqual(decodeVerifiedJwt(jwt), decode(jwt));
  const [head, body, sig] = jwt.split(".") as [string, string, string];
  const otherBody = Buffer.from(JSON.stringify({ ...decode(jwt), sub: createUser().getPublicKey() })).toString("base64url");
  const forged = [`${head}.${otherBody}.${sig}`, `${head}.${body}.${Buffer.from(createUser().sign(data)).toString("base64url")}`];
  for (const bad of forged) {
    assert.throws(() => decode(bad), /sig verification failed/);
    assert.throws(() => decodeVerifiedJwt(bad), /sig verification failed/);
  }
  assert.throws(() => decodeVerifiedJwt(`${head}.${body}`), /2 chunks/);
  const wrongAlg = Buffer.from(JSON.stringify({ typ: "JWT", alg: "HS256" })).toString("base64url");
  assert.throws(() => decodeVerifiedJwt(`${wrongAlg}.${body}.${sig}`), /alg HS256/);
});

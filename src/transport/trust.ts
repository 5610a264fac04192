/**
 * NATS operator/JWT trust for the fleet (the building block of issue 5's secure mode, verified
 * against Debian's nats-server 2.9): an operator, a system account and the fleet account, kept as
 * seeds (0600) in a folder; nats-server config lines for a full resolver with the accounts
 * preloaded; user JWTs with per-node permissions; and revocation pushed to a running server.
 * Not yet wired into coordinator, worker and `ocf up` (issue 5 continues).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { encodeAccount, encodeOperator, encodeUser } from "@nats-io/jwt";
import { createAccount, createOperator, fromSeed, type KeyPair } from "@nats-io/nkeys";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Subjects } from "../protocol/subjects.js";
import { readPrivateFile, writeFileAtomic } from "../util/files.js";

export interface FleetTrust {
  operator: KeyPair;
  system: KeyPair;
  account: KeyPair;
  operatorJwt: string;
  systemJwt: string;
}

export interface NatsPermissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
  /** Allow answering requests received (exec replies) without publish rights on inboxes. */
  resp?: { max: number; ttl: number };
}

const UNLIMITED = { conn: -1, subs: -1, payload: -1, data: -1, leaf: -1, imports: -1, exports: -1, wildcards: true };

function loadOrCreateKey(dir: string, file: string, create: () => KeyPair): KeyPair {
  const path = join(dir, file);
  const seed = readPrivateFile(path)?.trim();
  if (seed) return fromSeed(new TextEncoder().encode(seed));
  const key = create();
  writeFileAtomic(path, `${new TextDecoder().decode(key.getSeed())}\n`, 0o600);
  return key;
}

/** Load the fleet's keys from `dir` (creating them on first use) and sign the operator and system JWTs. */
export async function loadOrCreateTrust(dir: string): Promise<FleetTrust> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const operator = loadOrCreateKey(dir, "operator.nk", createOperator);
  const system = loadOrCreateKey(dir, "system-account.nk", createAccount);
  const account = loadOrCreateKey(dir, "fleet-account.nk", createAccount);
  const systemJwt = await encodeAccount("SYS", system, { limits: UNLIMITED }, { signer: operator });
  const operatorJwt = await encodeOperator("ocf", operator, { system_account: system.getPublicKey() });
  return { operator, system, account, operatorJwt, systemJwt };
}

/** The fleet account's JWT; `revocations` maps user public keys to a Unix time (seconds). */
export function fleetAccountJwt(trust: FleetTrust, revocations: Record<string, number> = {}): Promise<string> {
  return encodeAccount("OCF", trust.account, { limits: UNLIMITED, revocations }, { signer: trust.operator });
}

/** nats-server config lines for operator mode with a full resolver keeping JWTs in `jwtDir`. */
export async function natsServerTrustConfig(trust: FleetTrust, jwtDir: string): Promise<string[]> {
  if (!existsSync(jwtDir)) mkdirSync(jwtDir, { recursive: true, mode: 0o700 });
  return [
    `operator: ${trust.operatorJwt}`,
    `system_account: ${trust.system.getPublicKey()}`,
    `resolver: { type: full, dir: "${jwtDir}", allow_delete: false, interval: "2m" }`,
    "resolver_preload: {",
    `  ${trust.system.getPublicKey()}: ${trust.systemJwt}`,
    `  ${trust.account.getPublicKey()}: ${await fleetAccountJwt(trust)}`,
    "}",
  ];
}

/** A user JWT in the fleet account (or the system account) bound to `publicKey`. */
export function issueUserJwt(trust: FleetTrust, name: string, publicKey: string, permissions?: NatsPermissions, system = false): Promise<string> {
  return encodeUser(name, publicKey, system ? trust.system : trust.account, permissions ?? {});
}

/** The inbox prefix a node must use, so it can receive only its own replies. */
export function nodeInboxPrefix(nodeId: string): string {
  return `_INBOX_${nodeId}`;
}

/** What an approved node may do: its heartbeats and join requests out; its own commands and the fan-out in. */
export function nodePermissions(subjects: Subjects, nodeId: string): NatsPermissions {
  return {
    pub: { allow: [subjects.enroll(), subjects.heartbeat(nodeId)] },
    sub: { allow: [subjects.exec(nodeId), subjects.control(nodeId), `${subjects.prefix}.bcast.>`, `${nodeInboxPrefix(nodeId)}.>`] },
    resp: { max: 1, ttl: 0 },
  };
}

/** Push an updated fleet account JWT (e.g. with a revocation) to a running server over a system-account connection. */
export async function pushAccountJwt(systemConnection: NatsConnection, accountJwt: string): Promise<void> {
  const reply = await systemConnection.request("$SYS.REQ.CLAIMS.UPDATE", new TextEncoder().encode(accountJwt), { timeout: 5000 });
  const body = JSON.parse(new TextDecoder().decode(reply.data)) as { data?: { code?: number; message?: string }; error?: { description?: string } };
  if (body.data?.code !== 200) throw new Error(`nats-server refused the account update: ${body.error?.description ?? body.data?.message ?? "no reason given"}`);
}

/**
 * NATS operator/JWT trust for the fleet (the building block of issue 5's secure mode, verified
 * against Debian's nats-server 2.9): an operator, a system account and the fleet account, kept as
 * seeds (0600) in a folder; nats-server config lines for a full resolver with the accounts
 * preloaded; user JWTs with per-node permissions; and revocation pushed to a running server.
 * `TrustStore` is what the coordinator holds: the keys, the revocation list (a 0600 JSON file next
 * to the keys, so `ocf up` can preload it into a fresh nats-server), and issuing of user JWTs.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { decodeVerifiedJwt, nativeSigner } from "../protocol/ed25519.js";
import { encodeAccount, encodeOperator, encodeUser } from "@nats-io/jwt";
import { createAccount, createOperator, createUser, fromSeed, type KeyPair } from "@nats-io/nkeys";
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
  /** Most subscriptions at once (-1: no limit). */
  subs?: number;
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
export async function natsServerTrustConfig(trust: FleetTrust, jwtDir: string, revocations: Record<string, number> = {}): Promise<string[]> {
  if (!existsSync(jwtDir)) mkdirSync(jwtDir, { recursive: true, mode: 0o700 });
  return [
    `operator: ${trust.operatorJwt}`,
    `system_account: ${trust.system.getPublicKey()}`,
    `resolver: { type: full, dir: "${jwtDir}", allow_delete: false, interval: "2m" }`,
    "resolver_preload: {",
    `  ${trust.system.getPublicKey()}: ${trust.systemJwt}`,
    `  ${trust.account.getPublicKey()}: ${await fleetAccountJwt(trust, revocations)}`,
    "}",
  ];
}

/** A user JWT in the fleet account (or the system account) bound to `publicKey`. */
export function issueUserJwt(trust: FleetTrust, name: string, publicKey: string, permissions?: NatsPermissions, system = false): Promise<string> {
  // Signed natively: a pure-JS signature per node JWT dominated an enrollment storm.
  return encodeUser(name, publicKey, nativeSigner(system ? trust.system : trust.account), permissions ?? {});
}

/** The inbox prefix a node must use, so it can receive only its own replies. */
export function nodeInboxPrefix(nodeId: string): string {
  return `_INBOX_${nodeId}`;
}

/** Longest reply subject the coordinator answers on (a node's inboxes are ~50 characters). */
const MAX_REPLY_SUBJECT = 256;
/** What follows a node's inbox prefix: dot-separated tokens, no wildcard (nats.js and request.ts make these). */
const INBOX_TAIL = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/;

/**
 * True when `reply` is one of `nodeId`'s own inboxes (`_INBOX_<id>.<token>...`). The coordinator
 * answers a node only there: a reply subject is the sender's word, and answering any other would
 * let a node make the coordinator publish on subjects it may not (another node's commands, the
 * coordinator's own pending requests).
 */
export function isNodeInbox(reply: string, nodeId: string): boolean {
  const prefix = `${nodeInboxPrefix(nodeId)}.`;
  return reply.length <= MAX_REPLY_SUBJECT && reply.startsWith(prefix) && INBOX_TAIL.test(reply.slice(prefix.length));
}

/**
 * Subscriptions one node connection may hold. A worker holds 7 (control, exec, broadcast, call,
 * task, and two reply inboxes: request.ts' for its joins, nats.js' for its task results); the rest
 * is room for later subjects. Each subscription costs the server memory: a node cannot hold thousands.
 */
export const NODE_MAX_SUBSCRIPTIONS = 64;

/**
 * What an approved node may do: its join requests, heartbeats, task events and broadcast results
 * out; its own commands and the fan-out in; one answer to each request it received; and at most
 * NODE_MAX_SUBSCRIPTIONS subscriptions at once.
 */
export function nodePermissions(subjects: Subjects, nodeId: string): NatsPermissions {
  return {
    pub: { allow: [subjects.enroll(), subjects.heartbeat(nodeId), subjects.taskEvents(nodeId), subjects.broadcastResult(nodeId)] },
    sub: { allow: [subjects.exec(nodeId), subjects.control(nodeId), subjects.call(nodeId), subjects.task(nodeId), `${subjects.prefix}.bcast.>`, `${nodeInboxPrefix(nodeId)}.>`] },
    resp: { max: 1, ttl: 0 },
    subs: NODE_MAX_SUBSCRIPTIONS,
  };
}

/** Push an updated fleet account JWT (e.g. with a revocation) to a running server over a system-account connection. */
export async function pushAccountJwt(systemConnection: NatsConnection, accountJwt: string): Promise<void> {
  const reply = await systemConnection.request("$SYS.REQ.CLAIMS.UPDATE", new TextEncoder().encode(accountJwt), { timeout: 5000 });
  const body = JSON.parse(new TextDecoder().decode(reply.data)) as { data?: { code?: number; message?: string }; error?: { description?: string } };
  if (body.data?.code !== 200) throw new Error(`nats-server refused the account update: ${body.error?.description ?? body.data?.message ?? "no reason given"}`);
}

export const REVOCATIONS_FILE = "revocations.json";

/** Credentials for one NATS connection: a user JWT and the seed of the key it is bound to. */
export interface UserCredentials {
  jwt: string;
  seed: Uint8Array;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The coordinator's view of the fleet trust: keys, revocations, and issuing credentials. */
export class TrustStore {
  private constructor(
    readonly dir: string,
    readonly trust: FleetTrust,
    private revoked: Record<string, number>,
  ) {}

  static async open(dir: string): Promise<TrustStore> {
    const trust = await loadOrCreateTrust(dir);
    const text = readPrivateFile(join(dir, REVOCATIONS_FILE));
    let revoked: Record<string, number> = {};
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
        revoked = Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, number] => typeof entry[1] === "number"));
      } catch (error) {
        throw new Error(`${join(dir, REVOCATIONS_FILE)} is not a JSON map of key to time (${(error as Error).message}); fix or remove it`, { cause: error });
      }
    }
    return new TrustStore(dir, trust, revoked);
  }

  get accountPublicKey(): string {
    return this.trust.account.getPublicKey();
  }

  revocations(): Record<string, number> {
    return { ...this.revoked };
  }

  /** The fleet account JWT carrying every revocation. */
  accountJwt(): Promise<string> {
    return fleetAccountJwt(this.trust, this.revoked);
  }

  /** nats-server config lines that trust this fleet (revocations included). */
  serverConfig(jwtDir: string): Promise<string[]> {
    return natsServerTrustConfig(this.trust, jwtDir, this.revoked);
  }

  /** Revoke every JWT issued so far to `publicKey`; returns the revocation time (seconds). */
  revoke(publicKey: string): number {
    const at = nowSeconds();
    this.revoked[publicKey] = at;
    writeFileAtomic(join(this.dir, REVOCATIONS_FILE), `${JSON.stringify(this.revoked, null, 2)}\n`, 0o600);
    return at;
  }

  /** A user JWT for an approved node, valid only for its own subjects. Issued after any revocation of its key. */
  async issueNodeJwt(subjects: Subjects, nodeId: string, publicKey: string): Promise<string> {
    // nats-server treats a JWT issued in the second of its key's revocation as revoked: wait past it.
    const revokedAt = this.revoked[publicKey];
    while (revokedAt !== undefined && nowSeconds() <= revokedAt) await new Promise((r) => setTimeout(r, 50));
    return issueUserJwt(this.trust, nodeId, publicKey, nodePermissions(subjects, nodeId));
  }

  /** Fresh credentials for a service connection (the coordinator itself, or the system account). */
  async serviceCredentials(name: string, system = false): Promise<UserCredentials> {
    const key = createUser();
    return { jwt: await issueUserJwt(this.trust, name, key.getPublicKey(), undefined, system), seed: key.getSeed() };
  }
}

/**
 * Check a node JWT received from the coordinator before using it: a user JWT signed by an account
 * key (the signature is verified) and issued to this node's own key.
 */
export function verifyNodeJwt(jwt: string, publicKey: string): { account: string; issuedAt: number } {
  let claims: { sub?: string; iss?: string; iat?: number; nats?: { type?: string } };
  try {
    claims = decodeVerifiedJwt(jwt);
  } catch (error) {
    throw new Error(`the credentials are not a valid signed NATS JWT: ${(error as Error).message}`, { cause: error });
  }
  if (claims.nats?.type !== "user") throw new Error("the credentials are not a NATS user JWT");
  if (claims.sub !== publicKey) throw new Error(`the credentials were issued to ${String(claims.sub)}, not to this node's key ${publicKey}`);
  const account = claims.iss ?? "";
  if (!account.startsWith("A")) throw new Error("the credentials are not signed by an account key");
  return { account, issuedAt: claims.iat ?? 0 };
}

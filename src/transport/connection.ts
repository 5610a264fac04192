/** NATS connections with the fleet's reconnect policy: forever, with jitter, logging every change. */
import { connect, errors, type Authenticator, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { fromSeed, type KeyPair } from "@nats-io/nkeys";
import type { Logger } from "pino";
import { nativeSigner } from "../protocol/ed25519.js";

export type { NatsConnection, Msg, Subscription } from "@nats-io/transport-node";

export interface ConnectOptions {
  url: string;
  /** Connection name shown by nats-server monitoring, e.g. `ocf-worker:home-server`. */
  name: string;
  logger: Logger;
  /** Keep trying when the server is not reachable yet (workers); the coordinator fails fast. */
  waitOnFirstConnect?: boolean;
  /** Base reconnect wait; jitter is added on top. */
  reconnectTimeWaitMs?: number;
  /** Ping the server this often; after 3 unanswered pings the link counts as down (default 10 s). */
  pingIntervalMs?: number;
  /** Called on every reconnect (re-announce yourself). */
  onReconnect?: () => void;
  /** Called when the connection to the server is lost. */
  onDisconnect?: () => void;
  /** User JWT + seed (operator mode); a function is asked again on every reconnect. */
  credentials?: { jwt: string; seed: Uint8Array } | (() => { jwt: string; seed: Uint8Array });
  /** Inbox prefix for replies to this connection's requests (a node may only read its own). */
  inboxPrefix?: string;
  /** Called once when the connection is closed for good; `error` says why when it was not closed by us (e.g. credentials revoked). */
  onClosed?: (error: Error | undefined) => void;
  /**
   * Called when the server refuses a publish or a subscription ("Permissions Violation"). The
   * server says so asynchronously (an -ERR after the fact) and keeps the connection open; a refused
   * subscription also reaches that subscription's callback.
   */
  onPermissionViolation?: (violation: PermissionViolation) => void;
}

/** A publish or subscription the server refused for this connection's credentials. */
export interface PermissionViolation {
  operation: "publish" | "subscription";
  subject: string;
  message: string;
}

/**
 * A subscription callback that never lets a handler's exception out: nats.js stops delivering
 * every message on the connection when a callback throws (found with a full disk). A failed
 * handler drops that one message and logs it; a subscription error (e.g. permission denied) goes
 * to `onError`, or to the log.
 */
export function guardedCallback(logger: Logger, what: string, handler: (msg: Msg) => void, onError?: (err: Error) => void): (err: Error | null, msg: Msg) => void {
  return (err, msg) => {
    if (err) {
      if (onError) onError(err);
      else logger.error({ err: err.message, subscription: what }, "NATS subscription error");
      return;
    }
    try {
      handler(msg);
    } catch (error) {
      logger.error({ err: (error as Error).message, code: (error as { code?: string }).code, subscription: what }, "NATS message handler failed; message dropped");
    }
  };
}

/** True for errors that mean the server refused the credentials (wrong, expired or revoked). */
export function isAuthError(error: unknown): boolean {
  const name = (error as Error | undefined)?.name ?? "";
  const message = (error as Error | undefined)?.message ?? "";
  return name === "AuthorizationError" || name === "UserAuthenticationExpiredError" || /authorization violation|authentication expired|user.*revoked/i.test(message);
}

/**
 * nats.js' jwtAuthenticator, with the server's nonce signed through node:crypto: nkeys derives the
 * key and signs in pure JavaScript, ~100 ms and hundreds of MB of short-lived garbage per connect
 * without V8's optimizing compiler (which workers run without). Same fields, same bytes.
 */
export function jwtSigner(get: () => { jwt: string; seed: Uint8Array }): Authenticator {
  let last: { seed: string; signer: KeyPair } | undefined;
  return (nonce?: string) => {
    const { jwt, seed } = get();
    const seedText = new TextDecoder().decode(seed);
    if (last?.seed !== seedText) last = { seed: seedText, signer: nativeSigner(fromSeed(seed)) };
    const sig = nonce ? Buffer.from(last.signer.sign(new TextEncoder().encode(nonce))).toString("base64") : "";
    return { jwt, nkey: last.signer.getPublicKey(), sig };
  };
}

/** The inbox prefix each connection was opened with (request.ts makes its reply subjects under it). */
const inboxPrefixes = new WeakMap<NatsConnection, string>();

/** The prefix of this connection's inboxes: a node's own `_INBOX_<id>`, or nats' `_INBOX`. */
export function inboxPrefixOf(nc: NatsConnection): string {
  return inboxPrefixes.get(nc) ?? "_INBOX";
}

export async function connectNats(options: ConnectOptions): Promise<NatsConnection> {
  const creds = options.credentials;
  const authenticator = creds === undefined ? undefined : jwtSigner(typeof creds === "function" ? creds : () => creds);
  const nc = await connect({
    ...(authenticator ? { authenticator } : {}),
    ...(options.inboxPrefix ? { inboxPrefix: options.inboxPrefix } : {}),
    servers: options.url,
    name: options.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1000,
    reconnectJitter: 500,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    pingInterval: options.pingIntervalMs ?? 10_000,
    maxPingOut: 3,
    timeout: 5000,
  });
  if (options.inboxPrefix) inboxPrefixes.set(nc, options.inboxPrefix);
  void watchStatus(nc, options);
  if (options.onClosed) {
    const onClosed = options.onClosed;
    void nc.closed().then((error) => onClosed(error ?? undefined));
  }
  return nc;
}

async function watchStatus(nc: NatsConnection, options: ConnectOptions): Promise<void> {
  const log = options.logger;
  try {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
          log.warn({ server: status.server }, "NATS disconnected; reconnecting");
          options.onDisconnect?.();
          break;
        case "reconnect":
          log.info({ server: status.server }, "NATS reconnected");
          options.onReconnect?.();
          break;
        case "error":
          log.warn({ err: status.error?.message }, "NATS server error");
          if (status.error instanceof errors.PermissionViolationError) {
            const { operation, subject, message } = status.error;
            options.onPermissionViolation?.({ operation, subject, message });
          }
          break;
        case "slowConsumer":
          log.warn({ sub: status.sub.getSubject() }, "NATS slow consumer: messages dropped");
          break;
        default:
          break;
      }
    }
  } catch (error) {
    log.debug({ err: (error as Error).message }, "NATS status watcher ended");
  }
}

/** A short human description of the URL for messages (no credentials). */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

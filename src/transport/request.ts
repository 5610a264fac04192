/**
 * Request/reply with explicit timeouts and reply subjects nobody can guess, mapping NATS failures
 * onto RequestFailed reasons.
 *
 * nats.js' own request() answers on `<inbox>.<8 characters from Math.random>`: a node that watches
 * the requests it receives sees enough of them to compute the next tokens (Math.random is not a
 * secure generator), and could aim a message at the reply subject of a request to another node.
 * Here each connection has one reply inbox, `<prefix>.<random>.*`, and each request its own token
 * from the system's secure generator (randomUUID: 122 random bits). One subscription per
 * connection, as nats.js does it; a subscription per request (noMux) cost ~70 µs more per round trip.
 */
import { randomUUID } from "node:crypto";
import { errors, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { inboxPrefixOf } from "./connection.js";

export type RequestFailure = "no_responders" | "timeout" | "closed";

/** Thrown by `request` with the reason: nobody listens, nobody answered in time, or no connection. */
export class RequestFailed extends Error {
  constructor(readonly reason: RequestFailure, message: string) {
    super(message);
    this.name = "RequestFailed";
  }
}

/** A reply subject under `prefix` that cannot be predicted (122 random bits), for a request made outside `request()`. */
export function unpredictableInbox(prefix = "_INBOX"): string {
  return `${prefix}.${randomUUID()}`;
}

interface Waiter {
  subject: string;
  timer: NodeJS.Timeout;
  resolve: (data: Uint8Array) => void;
  reject: (error: RequestFailed) => void;
}

/** One connection's reply inbox: a subscription to `<prefix>.<random>.*` and the requests waiting on it, by token. */
class ReplyInbox {
  private readonly base: string;
  private readonly waiting = new Map<string, Waiter>();
  private readonly subscription: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    prefix: string,
    private readonly onDead: () => void,
  ) {
    this.base = `${prefix}.${randomUUID()}.`;
    this.subscription = nc.subscribe(`${this.base}*`, {
      callback: (error, msg) => {
        if (error) this.die(`the reply inbox was refused or closed: ${error.message}`);
        else this.deliver(msg);
      },
    });
    void nc.closed().then(() => this.die("NATS connection is closed"));
  }

  ask(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const token = randomUUID();
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new RequestFailed("timeout", `no reply on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(token, { subject, timer, resolve, reject });
      try {
        this.nc.publish(subject, data, { reply: `${this.base}${token}` });
      } catch (error) {
        clearTimeout(timer);
        this.waiting.delete(token);
        reject(failure(subject, error));
      }
    });
  }

  private deliver(msg: Msg): void {
    const token = msg.subject.slice(this.base.length);
    const waiter = this.waiting.get(token);
    // A late reply (after its timeout) or one for no request: nothing waits for it.
    if (!waiter) return;
    this.waiting.delete(token);
    clearTimeout(waiter.timer);
    // The server's answer when nobody subscribes to the subject: an empty message with status 503.
    if (msg.data.length === 0 && msg.headers?.code === 503) waiter.reject(new RequestFailed("no_responders", `no responder on ${waiter.subject}`));
    else waiter.resolve(msg.data);
  }

  /** The inbox cannot receive any more: fail what waits; the next request makes a new inbox. */
  private die(why: string): void {
    this.onDead();
    if (!this.subscription.isClosed()) this.subscription.unsubscribe();
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new RequestFailed("closed", why));
    }
    this.waiting.clear();
  }
}

const inboxes = new WeakMap<NatsConnection, ReplyInbox>();

function failure(subject: string, error: unknown): RequestFailed {
  if (error instanceof RequestFailed) return error;
  if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
    return new RequestFailed("closed", "NATS connection is closed");
  }
  return new RequestFailed("timeout", `request on ${subject} failed: ${(error as Error).message}`);
}

/**
 * One request, answered in the connection's reply inbox (under its inbox prefix: a node may only
 * read its own `_INBOX_<id>`) on a token of its own. Rejects with RequestFailed.
 */
export function request(nc: NatsConnection, subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  if (nc.isClosed()) return Promise.reject(new RequestFailed("closed", "NATS connection is closed"));
  let inbox = inboxes.get(nc);
  try {
    if (!inbox) {
      inbox = new ReplyInbox(nc, inboxPrefixOf(nc), () => {
        if (inboxes.get(nc) === inbox) inboxes.delete(nc);
      });
      inboxes.set(nc, inbox);
    }
  } catch (error) {
    return Promise.reject(failure(subject, error));
  }
  return inbox.ask(subject, data, timeoutMs);
}

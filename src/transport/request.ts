/** Request/reply with explicit timeouts, mapping NATS errors onto fleet error codes. */
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { FleetError } from "../protocol/errors.js";

export type RequestFailure = "no_responders" | "timeout" | "closed";

/** Thrown by `request` with the reason: nobody listens, nobody answered in time, or no connection. */
export class RequestFailed extends Error {
  constructor(readonly reason: RequestFailure, message: string) {
    super(message);
    this.name = "RequestFailed";
  }
}

export async function request(nc: NatsConnection, subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  if (nc.isClosed()) throw new RequestFailed("closed", "NATS connection is closed");
  try {
    const reply = await nc.request(subject, data, { timeout: timeoutMs });
    return reply.data;
  } catch (error) {
    if (error instanceof errors.RequestError && error.isNoResponders()) {
      throw new RequestFailed("no_responders", `no responder on ${subject}`);
    }
    if (error instanceof errors.NoRespondersError) throw new RequestFailed("no_responders", `no responder on ${subject}`);
    if (error instanceof errors.TimeoutError || (error instanceof Error && error.cause instanceof errors.TimeoutError)) {
      throw new RequestFailed("timeout", `no reply on ${subject} within ${timeoutMs} ms`);
    }
    if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
      throw new RequestFailed("closed", "NATS connection is closed");
    }
    if (error instanceof FleetError) throw error;
    throw new RequestFailed("timeout", `request on ${subject} failed: ${(error as Error).message}`);
  }
}

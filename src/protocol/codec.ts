/** JSON encoding of wire messages, with validation at the edge that never throws anything but FleetError. */
import type { z } from "zod";
import { FleetError } from "./errors.js";
import { ErrorReplySchema, PROTOCOL_VERSION, type ErrorReply } from "./messages.js";
import type { ErrorCode } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

export function encodeMessage(message: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

export function errorReply(code: ErrorCode, message: string): ErrorReply {
  return { v: PROTOCOL_VERSION, error: { code, message } };
}

/** Turns a zod error into one line naming each bad field. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.map(String).join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

/**
 * Parse and validate bytes from the wire. Throws FleetError (`bad_request` or
 * `unsupported_version`) naming what was wrong; never anything else.
 */
export function decodeMessage<S extends z.ZodType>(data: Uint8Array, schema: S): z.infer<S> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch {
    throw new FleetError("bad_request", `message is not valid JSON (${data.length} bytes)`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new FleetError("bad_request", "message must be a JSON object");
  }
  const version = (parsed as { v?: unknown }).v;
  if (version !== PROTOCOL_VERSION) {
    throw new FleetError(
      "unsupported_version",
      `protocol version ${JSON.stringify(version ?? null)} is not supported (this side speaks v${PROTOCOL_VERSION})`,
    );
  }
  const result = schema.safeParse(parsed);
  if (!result.success) throw new FleetError("bad_request", `invalid message: ${describeZodError(result.error)}`);
  return result.data;
}

/** If the bytes are a typed error reply, return it. */
export function asErrorReply(data: Uint8Array): ErrorReply | undefined {
  try {
    const parsed: unknown = JSON.parse(decoder.decode(data));
    const result = ErrorReplySchema.safeParse(parsed);
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

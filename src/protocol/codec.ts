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

/** Quote a piece of untrusted text for a message: at most `max` characters, control characters escaped. */
export function quoteUntrusted(value: string, max = 64): string {
  const cut = value.length > max ? `${value.slice(0, max)}...` : value;
  return JSON.stringify(cut);
}

/**
 * Turns a zod error into one line naming each bad field (at most five, each path and message cut
 * short, unknown keys quoted and counted), so an error never echoes a large or hostile input.
 */
export function describeZodError(error: z.ZodError): string {
  const described = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.slice(0, 8).map((part) => (typeof part === "string" && !/^[A-Za-z0-9_.-]{1,64}$/.test(part) ? quoteUntrusted(part) : String(part))).join(".");
    let message = issue.message;
    if (issue.code === "unrecognized_keys") {
      const keys = issue.keys;
      message = `unknown key${keys.length === 1 ? "" : "s"} ${keys.slice(0, 5).map((key) => quoteUntrusted(key, 32)).join(", ")}${keys.length > 5 ? ` and ${keys.length - 5} more` : ""}`;
    } else if (message.length > 200) {
      message = `${message.slice(0, 200)}...`;
    }
    return path ? `${path}: ${message}` : message;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more problems)` : "";
  return `${described.join("; ")}${more}`;
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

/** Error codes shared by the wire protocol, the HTTP API and the CLI. */
export const ERROR_CODES = [
  "bad_request",
  "unauthorized",
  "forbidden",
  "not_found",
  "node_not_found",
  "ambiguous_node",
  "node_offline",
  "node_busy",
  "not_approved",
  "identity_mismatch",
  "conflict",
  "timeout",
  "payload_too_large",
  "unsupported_version",
  "shutting_down",
  "exec_failed",
  "policy_denied",
  "unavailable",
  "rate_limited",
  "capability_unavailable",
  "clock_skew",
  "replayed",
  "internal",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status that goes with each error code. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  node_not_found: 404,
  ambiguous_node: 409,
  node_offline: 409,
  node_busy: 409,
  not_approved: 409,
  identity_mismatch: 409,
  conflict: 409,
  timeout: 504,
  payload_too_large: 413,
  unsupported_version: 400,
  shutting_down: 503,
  exec_failed: 500,
  policy_denied: 403,
  unavailable: 503,
  rate_limited: 429,
  capability_unavailable: 409,
  clock_skew: 400,
  replayed: 409,
  internal: 500,
};

/** One error type that carries its code (and so its HTTP status) across module boundaries. */
export class FleetError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "FleetError";
    this.code = code;
    this.details = details;
  }
  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
}

/** Request validation shared by the HTTP routes: a zod schema, or a 400 naming what was wrong. */
import type { z } from "zod";
import { describeZodError } from "../../protocol/codec.js";
import { FleetError } from "../../protocol/errors.js";

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (!result.success) throw new FleetError("bad_request", `invalid request body: ${describeZodError(result.error)}`);
  return result.data;
}

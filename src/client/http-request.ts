/**
 * One HTTP request with node:http (node:https for https URLs), answered as status and text.
 * The CLI's JSON calls use this instead of fetch: loading fetch's engine (undici) costs a short
 * command such as `ocf exec` around 100 ms on a small machine, more than the command itself.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

export interface TextResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** Thrown when the request did not get an answer; `code` is the system error (ECONNREFUSED, ...) or "TIMEOUT". */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export async function requestText(url: string, init: { method: string; headers: OutgoingHttpHeaders; body?: string | undefined; timeoutMs: number }): Promise<TextResponse> {
  const target = new URL(url);
  const { request } = target.protocol === "https:" ? await import("node:https") : await import("node:http");
  return new Promise((resolve, reject) => {
    const headers = { ...init.headers, ...(init.body !== undefined ? { "content-length": Buffer.byteLength(init.body) } : {}) };
    const req = request(target, { method: init.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", (error) => {
        clearTimeout(timer);
        reject(new RequestError(error.message, (error as NodeJS.ErrnoException).code ?? "ERESPONSE"));
      });
    });
    const timer = setTimeout(() => req.destroy(new RequestError(`no answer within ${init.timeoutMs} ms`, "TIMEOUT")), init.timeoutMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error instanceof RequestError ? error : new RequestError(error.message, (error as NodeJS.ErrnoException).code ?? "EREQUEST"));
    });
    req.end(init.body);
  });
}

/** Server-Sent Events on a hijacked reply: headers, a keepalive comment, and one place that closes it all. */
import type { FastifyReply, FastifyRequest } from "fastify";

const KEEPALIVE_MS = 15_000;

export interface EventStream {
  /** Send `data` as JSON. */
  send(event: string, data: unknown): void;
  /** Send text that already is JSON. */
  sendJson(event: string, json: string): void;
  /** Run `fn` when the stream ends (the client went, or `end()`). */
  onClose(fn: () => void): void;
  end(): void;
}

export function openEventStream(request: FastifyRequest, reply: FastifyReply): EventStream {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-accel-buffering": "no" });
  const keepalive = setInterval(() => {
    if (!raw.writableEnded) raw.write(": keepalive\n\n");
  }, KEEPALIVE_MS);
  const closers: Array<() => void> = [() => clearInterval(keepalive)];
  let closed = false;
  const end = (): void => {
    if (closed) return;
    closed = true;
    for (const fn of closers) fn();
    if (!raw.writableEnded) raw.end();
  };
  request.raw.on("close", end);
  const sendJson = (event: string, json: string): void => {
    if (!raw.writableEnded) raw.write(`event: ${event}\ndata: ${json}\n\n`);
  };
  const onClose = (fn: () => void): void => {
    if (closed) fn();
    else closers.push(fn);
  };
  // A HEAD has no body to stream: its headers are the whole answer (it would otherwise never end).
  if (request.method === "HEAD") end();
  return { send: (event, data) => sendJson(event, JSON.stringify(data)), sendJson, onClose, end };
}

/**
 * A tiny local status endpoint on 127.0.0.1:<worker.port> (GET /health), for service managers and
 * `curl`. 18789 is also the OpenClaw gateway's default port: on a hybrid machine the gateway
 * already listens there, so a busy port is reported and the next free one is used.
 */
import { createServer, type Server } from "node:http";
import type { Logger } from "pino";

export interface StatusServer {
  port: number;
  close(): Promise<void>;
}

const ATTEMPTS = 20;

export async function startStatusServer(options: { port: number; logger: Logger; report: () => Record<string, unknown> }): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/health" || req.url === "/")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(options.report()));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: "only GET /health is served here" } }));
  });
  const listen = (port: number): Promise<number> =>
    new Promise((resolvePort, reject) => {
      const onError = (error: Error): void => reject(error);
      server.once("error", onError);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", onError);
        const address = server.address();
        resolvePort(typeof address === "object" && address ? address.port : port);
      });
    });
  const first = options.port;
  for (let attempt = 0; attempt < (first === 0 ? 1 : ATTEMPTS); attempt += 1) {
    const port = first === 0 ? 0 : first + attempt;
    try {
      const bound = await listen(port);
      if (attempt > 0) {
        options.logger.warn({ wanted: first, port: bound }, `worker.port ${first} is in use (an OpenClaw gateway listens on 18789 by default); worker status endpoint is on ${bound} instead`);
      } else {
        options.logger.info({ port: bound }, "worker status endpoint on 127.0.0.1");
      }
      return { port: bound, close: () => new Promise((r) => server.close(() => r())) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
    }
  }
  options.logger.warn({ from: first, to: first + ATTEMPTS - 1 }, "no free port for the worker status endpoint; running without it");
  return { port: 0, close: async () => undefined };
}

import type { Command } from "commander";
import { ClientError } from "../../client/client.js";
import { clientFor, fromClientError, globals, parseDuration } from "../context.js";
import { printable } from "../format.js";

export function register(program: Command): void {
  program
    .command("auto-approve")
    .description("approve every pending join request; with --watch keep running and approve new ones as they arrive")
    .option("-w, --watch", "keep running (Ctrl-C to stop)")
    .option("-i, --interval <duration>", "how often to look for new requests with --watch", "2s")
    .action(async (options: { watch?: boolean; interval: string }, command: Command) => {
      const client = clientFor(command);
      const json = globals(command).json === true;
      const intervalMs = parseDuration(options.interval, "--interval");
      let stop = false;
      const onSignal = (): void => {
        stop = true;
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      let lastError = "";
      const round = async (): Promise<number> => {
        const pending = await client.pending();
        let approved = 0;
        for (const request of pending) {
          try {
            await client.approve(request.request_id);
            approved += 1;
            if (json) console.log(JSON.stringify({ approved: request.node_id, request_id: request.request_id, hostname: request.hostname, at: new Date().toISOString() }));
            else console.log(`${new Date().toISOString()} ${printable(`approved ${request.node_id} (request ${request.request_id}, host ${request.hostname}, key ${request.fingerprint})`)}`);
          } catch (error) {
            if (error instanceof ClientError && error.code === "conflict") console.error(printable(`skipped ${request.request_id}: ${error.message}`));
            else throw error;
          }
        }
        return approved;
      };
      if (!options.watch) {
        const approved = await round().catch(fromClientError);
        if (!json && approved === 0) console.log("no pending join requests");
        return;
      }
      if (!json) console.log(`watching for join requests every ${intervalMs} ms (Ctrl-C to stop)`);
      while (!stop) {
        try {
          await round();
          if (lastError) console.error("coordinator reachable again");
          lastError = "";
        } catch (error) {
          if (error instanceof ClientError && error.code === "unauthorized") fromClientError(error);
          const message = (error as Error).message;
          if (message !== lastError) console.error(`${new Date().toISOString()} ${printable(message)} (will retry)`);
          lastError = message;
        }
        const until = Date.now() + intervalMs;
        while (!stop && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(200, intervalMs)));
      }
    });
}

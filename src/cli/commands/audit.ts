import type { Command } from "commander";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { table } from "../format.js";

export function register(program: Command): void {
  program
    .command("audit")
    .description("show the audit trail: pairing decisions, refused requests, every exec and broadcast (newest first)")
    .option("--node <id>", "only this node")
    .option("--action <action>", "only this action: exec, broadcast, pairing.approve, pairing.reject, pairing.pending, pairing.refused, pairing.expired, node.remove, auth.denied")
    .option("--actor <actor>", "only this actor, e.g. admin")
    .option("--since <when>", "ISO time or a duration back from now: 15m, 2h, 7d")
    .option("--until <when>", "ISO time or a duration back from now")
    .option("-n, --limit <n>", "at most this many entries (1-1000)", "50")
    .action(async (options: { node?: string; action?: string; actor?: string; since?: string; until?: string; limit: string }, command: Command) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError(`--limit "${options.limit}" must be a whole number from 1 to 1000`, EXIT.usage);
      const entries = await clientFor(command)
        .audit({ node: options.node, action: options.action, actor: options.actor, since: options.since, until: options.until, limit })
        .catch(fromClientError);
      if (globals(command).json) {
        printJson(entries);
        return;
      }
      if (entries.length === 0) {
        console.log("no audit entries match");
        return;
      }
      console.log(
        table(
          ["TIME", "ACTOR", "ACTION", "NODE", "STATUS", "EXIT", "MS", "COMMAND / DETAIL"],
          entries.map((entry) => [
            entry.ts.replace("T", " ").replace(/\.\d+Z$/, "Z"),
            entry.actor,
            entry.action,
            entry.node_id ?? "-",
            entry.status ?? "-",
            entry.exit_code === null ? "-" : String(entry.exit_code),
            entry.duration_ms === null ? "-" : String(Math.round(entry.duration_ms)),
            (entry.command ?? (entry.detail ? JSON.stringify(entry.detail) : "")).replace(/\s+/g, " ").slice(0, 80),
          ]),
        ),
      );
    });
}

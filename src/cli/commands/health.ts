import type { Command } from "commander";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { natsSummary, printable } from "../format.js";

export function register(program: Command): void {
  program
    .command("health")
    .description("show the coordinator's health (status, NATS, database, node counts)")
    .action(async (_options, command: Command) => {
      const report = await clientFor(command).health().catch(fromClientError);
      if (globals(command).json) printJson(report);
      else {
        const n = report.nodes;
        console.log(`status:   ${printable(report.status)}`);
        console.log(printable(`version:  ${report.version}   uptime: ${report.uptime_s}s`));
        console.log(`nats:     ${natsSummary(report)}`);
        console.log(`database: ${report.db.ok ? "ok" : "NOT OK"}`);
        console.log(`nodes:    ${n.total} approved (${n.online} online, ${n.offline} offline), ${n.pending} pending`);
      }
      if (report.status !== "ok") throw new CliError("coordinator is degraded", EXIT.failure);
    });
}

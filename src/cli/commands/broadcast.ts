import type { Command } from "commander";
import type { BroadcastOutcome } from "../../protocol/api.js";
import { clientFor, collect, fromClientError, globals, parseDuration, parseLabels, printJson } from "../context.js";
import { EXIT } from "../errors.js";
import { printable } from "../format.js";

/**
 * One block per node: a header naming it (escaped: the node chose its name), its output as it sent
 * it (remote output is printed as is, like ocf exec), and ocf's own notes (escaped).
 */
export function broadcastText(outcome: BroadcastOutcome): string {
  const blocks = outcome.results.map((result) => {
    const code = result.exit_code === null ? "" : `, exit ${result.exit_code}`;
    const head = printable(`=== ${result.node}${result.node !== result.node_id ? ` (${result.node_id})` : ""}: ${result.status}${code}, ${Math.round(result.duration_ms)} ms`);
    const body = [result.stdout.trimEnd(), result.stderr.trimEnd() ? `[stderr] ${result.stderr.trimEnd()}` : "", result.error && result.status !== "ok" ? `[ocf] ${printable(result.error.message)}` : "", result.truncated ? "[ocf] output truncated" : ""]
      .filter(Boolean)
      .join("\n");
    return body ? `${head}\n${body}` : head;
  });
  const s = outcome.summary;
  const summary = `--- ${s.total} node(s): ${s.ok} ok, ${s.error} error, ${s.timeout} timeout, ${s.offline} offline (${s.duration_ms} ms)`;
  return [...blocks, summary].join("\n");
}

export function register(program: Command): void {
  program
    .command("broadcast <command>")
    .description('run a shell command on every online node (or those matching --label), e.g. ocf broadcast "uptime"')
    .option("-l, --label <key=value>", "only nodes with this label (repeat for several)", collect, [])
    .option("-t, --timeout <duration>", "command timeout, e.g. 30s (default: coordinator.exec_timeout)")
    .action(async (shellCommand: string, options: { label: string[]; timeout?: string }, command: Command) => {
      const labels = parseLabels(options.label);
      const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
      const outcome = await clientFor(command).broadcast(shellCommand, labels, timeoutMs).catch(fromClientError);
      if (globals(command).json) printJson(outcome);
      else console.log(outcome.results.length ? broadcastText(outcome) : "no node matched (see: ocf nodes list)");
      const failed = outcome.results.some((result) => result.status !== "ok");
      process.exitCode = failed || outcome.results.length === 0 ? EXIT.failure : EXIT.ok;
    });
}

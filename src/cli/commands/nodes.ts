import type { Command } from "commander";
import type { JoinRequestView, NodeView } from "../../protocol/api.js";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { ago, capabilitiesText, labelsText, percent, printable, table } from "../format.js";

export function nodesTable(nodes: NodeView[]): string {
  if (nodes.length === 0) return "no approved nodes (see: ocf nodes pending)";
  return table(
    ["ID", "NAME", "STATUS", "CPU", "MEM", "DISK", "TASKS", "LAST SEEN", "OS/ARCH", "LABELS", "CAPABILITIES"],
    nodes.map((node) => [
      node.id,
      node.name,
      node.status,
      percent(node.load.cpu),
      percent(node.load.memory),
      percent(node.load.disk),
      `${node.load.running_tasks}/${node.load.max_concurrent_tasks}`,
      ago(node.last_seen),
      `${node.os}/${node.arch}`,
      labelsText(node.labels),
      capabilitiesText(node.capabilities),
    ]),
  );
}

/** Everything about one node, for `ocf nodes show`. */
export function nodeDetails(node: NodeView): string {
  const skills = node.capabilities.filter((c) => c.startsWith("skill:")).map((c) => c.slice("skill:".length));
  const rows: Array<[string, string]> = [
    ["id", node.id],
    ["name", node.name],
    ["status", `${node.status} (last seen ${ago(node.last_seen)})`],
    ["hostname", node.hostname || "-"],
    ["os/arch", `${node.os}/${node.arch}`],
    ["addresses", node.ips.join(", ") || "-"],
    ["version", node.version || "-"],
    ["key", node.fingerprint],
    ["approved", node.approved_at ?? "-"],
    ["load", `cpu ${percent(node.load.cpu)}, memory ${percent(node.load.memory)}, disk ${percent(node.load.disk)}, tasks ${node.load.running_tasks}/${node.load.max_concurrent_tasks}`],
    ["labels", labelsText(node.labels)],
    ["capabilities", node.capabilities.filter((c) => !c.startsWith("skill:")).join(", ") || "-"],
    ["skills", skills.join(", ") || "- (see ocf skills list)"],
  ];
  return rows.map(([key, value]) => `${`${key}:`.padEnd(14)}${printable(value)}`).join("\n");
}

/** Join requests; KEY is the fingerprint the worker logs ("this node's key fingerprint is ..."), FROM the address it asked from. */
export function pendingTable(pending: JoinRequestView[]): string {
  if (pending.length === 0) return "no pending join requests";
  return table(
    ["REQUEST ID", "NODE ID", "NAME", "HOSTNAME", "KEY", "FROM", "OS/ARCH", "IPS", "ASKED"],
    pending.map((request) => [
      request.request_id,
      request.node_id,
      request.name,
      request.hostname,
      request.fingerprint,
      request.address ?? "-",
      `${request.os}/${request.arch}`,
      request.ips.slice(0, 3).join(",") || "-",
      ago(request.updated_at),
    ]),
  );
}

interface RejectOptions {
  reason?: string;
  all?: boolean;
  address?: string;
  olderThan?: string;
  node?: string;
  dryRun?: boolean;
}

export function register(program: Command): void {
  const nodes = program.command("nodes").description("list, approve, reject and remove fleet nodes");

  nodes
    .command("list")
    .alias("ls")
    .description("list approved nodes with status, load and labels")
    .action(async (_options, command: Command) => {
      const list = await clientFor(command).nodes().catch(fromClientError);
      if (globals(command).json) printJson(list);
      else console.log(nodesTable(list));
    });

  nodes
    .command("show <node>")
    .description("show one node (by id or name)")
    .action(async (ref: string, _options, command: Command) => {
      const node = await clientFor(command).node(ref).catch(fromClientError);
      if (globals(command).json) printJson(node);
      else console.log(nodeDetails(node));
    });

  nodes
    .command("pending")
    .description("list join requests waiting for approval")
    .action(async (_options, command: Command) => {
      const pending = await clientFor(command).pending().catch(fromClientError);
      if (globals(command).json) printJson(pending);
      else console.log(pendingTable(pending));
    });

  nodes
    .command("approve <id>")
    .description("approve a join request (request id, or node id when it has one pending request)")
    .action(async (ref: string, _options, command: Command) => {
      const result = await clientFor(command).approve(ref).catch(fromClientError);
      if (globals(command).json) printJson(result);
      else console.log(printable(`approved ${result.request.node_id} (request ${result.request.request_id})`));
    });

  nodes
    .command("reject [id]")
    .description("reject a join request (its key is refused from now on), or several at once: --all, or any of --address, --older-than, --node (they combine)")
    .option("--reason <text>", "why (shown to the node's logs)")
    .option("--all", "every pending request")
    .option("--address <ip>", "requests that came from this address or CIDR prefix (e.g. 10.0.0.7, 10.0.0.0/24)")
    .option("--older-than <duration>", "requests waiting longer than this, e.g. 30m, 2h, 7d")
    .option("--node <pattern>", "requests whose node id matches this pattern (* and ?), e.g. 'sim-*'")
    .option("--dry-run", "only list what would be rejected")
    .addHelpText("after", "\nExamples:\n  ocf nodes reject a9a6125e --reason 'not ours'\n  ocf nodes reject --address 10.0.0.7 --dry-run\n  ocf nodes reject --older-than 1h\n  ocf nodes reject --all")
    .action(async (ref: string | undefined, options: RejectOptions, command: Command) => {
      const bulk = options.all === true || options.address !== undefined || options.olderThan !== undefined || options.node !== undefined;
      if (ref !== undefined && (bulk || options.dryRun)) throw new CliError("give a request id, or --all / --address / --older-than / --node, not both", EXIT.usage);
      if (ref === undefined && !bulk) {
        throw new CliError("say which join requests to reject: a request id (see ocf nodes pending), or --all, or any of --address IP, --older-than 1h, --node 'pattern'", EXIT.usage);
      }
      if (options.all && (options.address !== undefined || options.olderThan !== undefined || options.node !== undefined)) {
        throw new CliError("--all rejects every pending request; give it alone, or use --address / --older-than / --node without it", EXIT.usage);
      }
      const client = clientFor(command);
      if (ref !== undefined) {
        const result = await client.reject(ref, options.reason).catch(fromClientError);
        if (globals(command).json) printJson(result);
        else console.log(printable(`rejected ${result.request.node_id} (request ${result.request.request_id})`));
        return;
      }
      const result = await client
        .rejectPending({
          ...(options.all ? { all: true as const } : {}),
          ...(options.address !== undefined ? { address: options.address } : {}),
          ...(options.olderThan !== undefined ? { older_than: options.olderThan } : {}),
          ...(options.node !== undefined ? { node: options.node } : {}),
          ...(options.reason !== undefined ? { reason: options.reason } : {}),
          ...(options.dryRun ? { dry_run: true } : {}),
        })
        .catch(fromClientError);
      if (globals(command).json) {
        printJson(result);
        return;
      }
      if (result.count === 0) {
        console.log("no pending join request matches");
        return;
      }
      console.log(`${result.dry_run ? "would reject" : "rejected"} ${result.count} join request${result.count === 1 ? "" : "s"}${result.dry_run ? " (dry run: nothing changed)" : ""}:`);
      console.log(pendingTable(result.rejected));
    });

  nodes
    .command("remove <node>")
    .alias("rm")
    .description("remove a node from the fleet; it can no longer act and its key is refused")
    .action(async (ref: string, _options, command: Command) => {
      const removed = await clientFor(command).removeNode(ref).catch(fromClientError);
      if (globals(command).json) printJson({ removed });
      else console.log(printable(`removed ${removed.id}`));
    });

  nodes
    .command("rotate <node>")
    .description("reissue a node's NATS credentials: the old ones stop working at once, the node fetches new ones in seconds")
    .action(async (ref: string, _options, command: Command) => {
      const result = await clientFor(command).rotate(ref).catch(fromClientError);
      if (globals(command).json) printJson(result);
      else if (result.secure) console.log(printable(`revoked the NATS credentials of ${result.node_id} (at ${result.revoked_at}); it reconnects with new ones`));
      else console.log(printable(`recorded the revocation for ${result.node_id}, but the NATS server is OPEN (not in operator mode), so nothing was cut off; see docs/SECURITY.md`));
    });
}

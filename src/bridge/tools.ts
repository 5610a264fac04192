/**
 * The fleet's tools for an AI agent: one implementation behind two front doors (the OpenClaw
 * plugin and the MCP server `ocf mcp`). Each tool calls the coordinator's HTTP API with a scoped
 * token and answers with text written for a model: short, with exit codes and stderr kept, long
 * output cut to head + tail, and errors as sentences the model can relay to the user.
 */
import { z } from "zod";
import { ClientError, type FleetClient } from "../client/client.js";
import type { CaptureResult, NodeExecResult, NodeView } from "../protocol/api.js";
import { summarizeText } from "./summarize.js";
import { formatNodeInfo } from "../client/format-info.js";
import { formatSkills } from "../client/format-skills.js";

export interface ToolSpec {
  name: string;
  /** Short human title. */
  label: string;
  description: string;
  /** JSON Schema of the arguments (an object schema). */
  parameters: Record<string, unknown>;
}

export interface ToolOutcome {
  /** What the model reads. */
  text: string;
  isError: boolean;
  /** Machine-readable result (`status`, `ok`, `exitCode` are what OpenClaw grades calls by). */
  details: Record<string, unknown>;
  image?: { data: string; mimeType: string };
}

/** Bytes of stdout / stderr a model gets from one node; the rest is summarised. */
const EXEC_STDOUT_BUDGET = 8 * 1024;
const EXEC_STDERR_BUDGET = 2 * 1024;
/** Per node in a broadcast (many nodes share the context). */
const BROADCAST_STDOUT_BUDGET = 1536;
const BROADCAST_STDERR_BUDGET = 512;
const DEFAULT_TIMEOUT_S = 60;

const nodeRef = z
  .string()
  .min(1)
  .max(128)
  .describe("The node (machine) to use: its id or name as the user says it, e.g. \"home-server\", \"Home Server\", \"macbook\". Call fleet_nodes first if unsure.");
const timeoutSeconds = z.number().int().min(1).max(3600).optional().describe(`Give up and kill the command after this many seconds (default ${DEFAULT_TIMEOUT_S}).`);
const labelSelector = z
  .record(z.string(), z.string())
  .optional()
  .describe('Only nodes with all these labels, e.g. {"site": "home"}. Omit for every node.');

const NodesArgs = z.strictObject({
  labels: labelSelector,
  status: z.enum(["online", "offline", "all"]).optional().describe("Only online or offline nodes (default all)."),
});
const ExecArgs = z.strictObject({
  node: nodeRef,
  command: z.string().min(1).max(64 * 1024).describe("Shell command to run on that machine with /bin/sh -c, e.g. \"df -h\", \"uptime\", \"docker ps\"."),
  timeout_seconds: timeoutSeconds,
});
const BroadcastArgs = z.strictObject({
  command: z.string().min(1).max(64 * 1024).describe("Shell command to run on every matching machine with /bin/sh -c."),
  labels: labelSelector,
  timeout_seconds: timeoutSeconds,
});
const InfoArgs = z.strictObject({ node: nodeRef });
const ScreenshotArgs = z.strictObject({
  node: nodeRef,
  display: z.string().max(64).optional().describe("Which display or screen, when the machine has several (default: the main one)."),
});
const CameraArgs = z.strictObject({
  node: nodeRef,
  device: z.string().max(128).optional().describe("Which camera, when the machine has several, e.g. \"/dev/video1\" (default: the machine's configured camera)."),
});
const SkillsArgs = z.strictObject({
  node: nodeRef.optional().describe("Only this machine's skills (default: every online machine)."),
});
const SkillArgs = z.strictObject({
  node: nodeRef,
  skill: z.string().min(1).max(48).describe("The skill's name as fleet_skills lists it, e.g. \"disk-usage\"."),
  params: z.record(z.string(), z.unknown()).optional().describe("The skill's parameters as fleet_skills describes them, e.g. {\"path\": \"/var\"}. Omit for the defaults."),
});

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema) as Record<string, unknown>;
  return rest;
}

const TOOL_DEFINITIONS = [
  {
    name: "fleet_nodes",
    label: "List fleet machines",
    description:
      "List the machines (nodes) in the user's fleet with their status (online/offline), labels, capabilities, OS, CPU/memory/disk load and running tasks. Use it to answer questions about the fleet, or to find the right node name before another fleet tool.",
    schema: NodesArgs,
  },
  {
    name: "fleet_exec",
    label: "Run a command on a machine",
    description:
      "Run a shell command on ONE machine of the user's fleet and return its exit code, stdout and stderr. Use it whenever the user asks a named machine to do or check something (\"ask home-server to check its disk space\" → node \"home-server\", command \"df -h\"). Names are matched forgivingly; if the name is unknown or ambiguous the result lists the candidates — ask the user or pick one of them, never guess.",
    schema: ExecArgs,
  },
  {
    name: "fleet_broadcast",
    label: "Run a command on many machines",
    description:
      "Run the same shell command on EVERY machine of the fleet, or on those whose labels match, and return each machine's result (ok, error, timeout or offline). Use it for fleet-wide questions such as \"how much disk is free everywhere\" or \"update all the home machines\".",
    schema: BroadcastArgs,
  },
  {
    name: "fleet_info",
    label: "How a machine is doing",
    description:
      "Ask one machine how it is doing: OS and kernel, CPU and load averages, memory, every disk's free space, uptime, network addresses and Tailscale status. Use it for questions like \"how is home-server doing?\" or \"is the NAS running out of space?\" (no command needed).",
    schema: InfoArgs,
  },
  {
    name: "fleet_screenshot",
    label: "Take a screenshot on a machine",
    description:
      "Take a screenshot of a machine's screen and return it as an image the user can see. Only machines that report the screen.capture capability can do this; otherwise the result says what is missing.",
    schema: ScreenshotArgs,
  },
  {
    name: "fleet_camera",
    label: "Take a camera photo on a machine",
    description:
      "Take one photo with a machine's camera and return it as an image. Only machines that report the camera.snap capability can do this; otherwise the result says what is missing.",
    schema: CameraArgs,
  },
  {
    name: "fleet_skills",
    label: "List skills on the fleet",
    description:
      "List the skills (ready-made, parameterised actions such as disk-usage or service-status) that the fleet's machines offer, with what each does and its parameters. Prefer a skill over a hand-written command when one fits.",
    schema: SkillsArgs,
  },
  {
    name: "fleet_skill",
    label: "Run a skill on a machine",
    description:
      "Run one skill on one machine with parameters; the machine checks the parameters against the skill's schema first and answers with the skill's exit code and output. Call fleet_skills to see what exists.",
    schema: SkillArgs,
  },
] as const;

export type ToolName = (typeof TOOL_DEFINITIONS)[number]["name"];

export const FLEET_TOOLS: ToolSpec[] = TOOL_DEFINITIONS.map((tool) => ({
  name: tool.name,
  label: tool.label,
  description: tool.description,
  parameters: jsonSchema(tool.schema),
}));

export const FLEET_TOOL_NAMES: string[] = FLEET_TOOLS.map((tool) => tool.name);

function percent(value: number | null): string {
  return value === null ? "?" : `${Math.round(value)}%`;
}

function ago(iso: string | null): string {
  if (!iso) return "never";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

function describeNode(node: NodeView): string {
  const labels = Object.entries(node.labels).map(([k, v]) => `${k}=${v}`).join(",") || "none";
  const name = node.name === node.id ? node.id : `${node.id} ("${node.name}")`;
  return `- ${name}: ${node.status}, ${node.os}/${node.arch}, cpu ${percent(node.load.cpu)}, memory ${percent(node.load.memory)}, disk ${percent(node.load.disk)}, tasks ${node.load.running_tasks}/${node.load.max_concurrent_tasks}, labels ${labels}, capabilities ${node.capabilities.join(",") || "none"}, last seen ${ago(node.last_seen)}`;
}

function candidatesOf(error: ClientError): string[] {
  const list = error.details?.candidates;
  if (!Array.isArray(list)) return [];
  return list.map((entry) => {
    const candidate = entry as { id?: string; name?: string };
    return candidate.name && candidate.name !== candidate.id ? `${String(candidate.id)} ("${candidate.name}")` : String(candidate.id);
  });
}

/** A failed call as a sentence for the model (and details for the caller). */
export function errorOutcome(error: unknown, node?: string): ToolOutcome {
  if (error instanceof ClientError) {
    const candidates = candidatesOf(error);
    let text: string;
    switch (error.code) {
      case "node_not_found":
        text = `There is no machine called "${node ?? "?"}" in the fleet. ${candidates.length ? `Known machines: ${candidates.join(", ")}.` : "The fleet has no approved machines yet."} Ask the user which one they mean, or use one of these names.`;
        break;
      case "ambiguous_node":
        text = `"${node ?? "?"}" matches more than one machine: ${candidates.join(", ")}. Ask the user which one, or use the exact id.`;
        break;
      case "node_offline":
        text = `The machine "${node ?? "?"}" is offline, so nothing ran: ${error.message}. It can run commands again once it reconnects.`;
        break;
      case "policy_denied":
        text = `The machine "${node ?? "?"}" refused the command by its own exec policy: ${error.message}. Nothing ran; its owner must allow such commands in worker.exec_policy.`;
        break;
      case "node_busy":
        text = `The machine "${node ?? "?"}" is busy (${error.message}). Try again in a moment.`;
        break;
      case "capability_unavailable":
        text = `The machine "${node ?? "?"}" cannot do that: ${error.message}. Nothing was taken or run; tell the user what is missing (a command with fleet_exec may still answer their question).`;
        break;
      case "unauthorized":
      case "forbidden":
        text = `The fleet refused this tool's credentials (${error.message}). The token configured for the fleet tools is missing, wrong, revoked or lacks the "exec" scope.`;
        break;
      case "unreachable":
        text = `The fleet's coordinator cannot be reached: ${error.message}`;
        break;
      default:
        text = `The fleet reported an error (${error.code}): ${error.message}`;
    }
    return { text, isError: true, details: { status: "error", ok: false, error: { code: error.code, message: error.message }, ...(candidates.length ? { candidates } : {}) } };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { text: `The fleet tool failed: ${message}`, isError: true, details: { status: "error", ok: false, error: { code: "internal", message } } };
}

function execText(result: NodeExecResult, command: string, stdoutBudget: number, stderrBudget: number): string {
  const head = `${result.node_id}: ${result.status === "ok" ? "ok" : result.status}${result.exit_code !== null ? `, exit code ${result.exit_code}` : ""}${result.signal ? `, killed by ${result.signal}` : ""}, ${Math.round(result.duration_ms)} ms — \`${command.length > 200 ? `${command.slice(0, 200)}…` : command}\``;
  const parts = [head];
  if (result.error && result.status !== "ok") parts.push(`error (${result.error.code}): ${result.error.message}`);
  if (result.stdout) parts.push(`stdout:\n${summarizeText(result.stdout, stdoutBudget)}`);
  if (result.stderr) parts.push(`stderr:\n${summarizeText(result.stderr, stderrBudget)}`);
  if (!result.stdout && !result.stderr && !result.error) parts.push("(no output)");
  if (result.truncated) parts.push("(the machine cut its output at its own limit before sending it)");
  return parts.join("\n");
}

function parseArgs<S extends z.ZodType>(schema: S, args: unknown): z.infer<S> {
  const result = schema.safeParse(args ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "arguments";
    throw new ArgumentError(`invalid arguments: ${where}: ${issue?.message ?? "invalid"}`);
  }
  return result.data;
}

class ArgumentError extends Error {}

/** A picture taken on a node, attached as an image for the model and the chat. */
async function pictureOutcome(client: FleetClient, shot: CaptureResult, what: string): Promise<ToolOutcome> {
  const file = await client.download(shot.file.url);
  const size = shot.width && shot.height ? `${shot.width}x${shot.height}, ` : "";
  const kind = shot.file.mime === "image/png" ? "PNG" : "JPEG";
  return {
    text: `${what} of ${shot.node_id} (${size}${shot.file.bytes} bytes ${kind}), attached as an image. The coordinator keeps it at ${shot.file.url}.`,
    isError: false,
    details: { status: "ok", ok: true, node_id: shot.node_id, file: shot.file, width: shot.width, height: shot.height },
    image: { data: file.data.toString("base64"), mimeType: shot.file.mime },
  };
}

/** Run one fleet tool. Never throws: failures come back as an error outcome the model can read. */
export async function runTool(client: FleetClient, name: string, args: unknown): Promise<ToolOutcome> {
  let node: string | undefined;
  try {
    switch (name as ToolName) {
      case "fleet_nodes": {
        const { labels, status } = parseArgs(NodesArgs, args);
        let nodes = await client.nodes();
        if (labels) nodes = nodes.filter((n) => Object.entries(labels).every(([k, v]) => n.labels[k] === v));
        if (status && status !== "all") nodes = nodes.filter((n) => n.status === status);
        const online = nodes.filter((n) => n.status === "online").length;
        const text = nodes.length === 0 ? "No machines match (the fleet may have none approved yet)." : `${nodes.length} machine(s), ${online} online:\n${nodes.map(describeNode).join("\n")}`;
        return { text, isError: false, details: { status: "ok", ok: true, count: nodes.length, nodes } };
      }
      case "fleet_exec": {
        const parsed = parseArgs(ExecArgs, args);
        node = parsed.node;
        const result = await client.exec(parsed.node, parsed.command, (parsed.timeout_seconds ?? DEFAULT_TIMEOUT_S) * 1000);
        const ok = result.status === "ok";
        return {
          text: execText(result, parsed.command, EXEC_STDOUT_BUDGET, EXEC_STDERR_BUDGET),
          isError: false,
          details: { status: result.status, ok, exitCode: result.exit_code, node_id: result.node_id, duration_ms: result.duration_ms, ...(result.error ? { error: result.error } : {}) },
        };
      }
      case "fleet_broadcast": {
        const parsed = parseArgs(BroadcastArgs, args);
        const outcome = await client.broadcast(parsed.command, parsed.labels ?? {}, (parsed.timeout_seconds ?? DEFAULT_TIMEOUT_S) * 1000);
        const s = outcome.summary;
        const header = `${s.total} machine(s): ${s.ok} ok, ${s.error} error, ${s.timeout} timeout, ${s.offline} offline (${Math.round(s.duration_ms)} ms).`;
        const blocks = outcome.results.map((result) => execText(result, parsed.command, BROADCAST_STDOUT_BUDGET, BROADCAST_STDERR_BUDGET));
        return {
          text: s.total === 0 ? "No machine matches that selector; nothing ran." : `${header}\n\n${blocks.join("\n\n")}`,
          isError: false,
          details: { status: s.total > 0 && s.ok === s.total ? "ok" : "partial", ok: s.total > 0 && s.ok === s.total, summary: s, results: outcome.results.map((r) => ({ node_id: r.node_id, status: r.status, exit_code: r.exit_code })) },
        };
      }
      case "fleet_info": {
        const parsed = parseArgs(InfoArgs, args);
        node = parsed.node;
        const result = await client.info(parsed.node);
        return { text: formatNodeInfo(result), isError: false, details: { status: "ok", ok: true, node_id: result.node_id, info: result.info } };
      }
      case "fleet_screenshot": {
        const parsed = parseArgs(ScreenshotArgs, args);
        node = parsed.node;
        // A model needs no 4K picture: scale down to 1920 pixels wide at most.
        return await pictureOutcome(client, await client.screenshot(parsed.node, { ...(parsed.display ? { display: parsed.display } : {}), maxWidth: 1920 }), "Screenshot");
      }
      case "fleet_camera": {
        const parsed = parseArgs(CameraArgs, args);
        node = parsed.node;
        return await pictureOutcome(client, await client.camera(parsed.node, parsed.device ? { device: parsed.device } : {}), "Camera photo");
      }
      case "fleet_skills": {
        const parsed = parseArgs(SkillsArgs, args);
        node = parsed.node;
        const nodes = await client.skills(parsed.node);
        const count = nodes.reduce((sum, n) => sum + n.skills.length, 0);
        return { text: formatSkills(nodes, true), isError: false, details: { status: "ok", ok: true, count, nodes } };
      }
      case "fleet_skill": {
        const parsed = parseArgs(SkillArgs, args);
        node = parsed.node;
        const result = await client.runSkill(parsed.node, parsed.skill, parsed.params ?? {});
        const asExec: NodeExecResult = { ...result, node: result.node_id };
        return {
          text: execText(asExec, `skill ${parsed.skill} ${JSON.stringify(result.params)}`, EXEC_STDOUT_BUDGET, EXEC_STDERR_BUDGET),
          isError: false,
          details: { status: result.status, ok: result.status === "ok", exitCode: result.exit_code, node_id: result.node_id, skill: result.skill, duration_ms: result.duration_ms },
        };
      }
      default:
        return { text: `Unknown fleet tool "${name}". Available: ${FLEET_TOOL_NAMES.join(", ")}.`, isError: true, details: { status: "error", ok: false } };
    }
  } catch (error) {
    if (error instanceof ArgumentError) {
      return { text: `The fleet tool ${name} got ${error.message}.`, isError: true, details: { status: "error", ok: false, error: { code: "bad_request", message: error.message } } };
    }
    return errorOutcome(error, node);
  }
}

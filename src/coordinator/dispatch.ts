/**
 * Exec on one node (request/reply) and broadcast to many: one publish without a reply subject;
 * each node publishes its result on its own `<prefix>.node.<id>.bres`, which only it may publish
 * on (its NATS permissions), and the coordinator's one subscription to every node's results hands
 * them here. The node a result is from is read from the subject, never from the body: a node that
 * claims another's id is a forgery (refused and audited). No targeted node is ever missing from a
 * broadcast result: each is `ok | error | timeout | offline`.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { FleetError, type ErrorCode } from "../protocol/errors.js";
import { CallResultSchema, ExecResultSchema, PROTOCOL_VERSION, type CallCapability, type CallRequest, type CallResult, type ExecResult, type Labels } from "../protocol/messages.js";
import type { Subjects } from "../protocol/subjects.js";
import type { BroadcastOutcome, NodeExecResult, NodeResultStatus } from "../protocol/api.js";
import type { Msg, NatsConnection } from "../transport/connection.js";
import { request, RequestFailed } from "../transport/request.js";
import { limited } from "../util/logger.js";
import type { NodeRecord } from "../storage/nodes.js";
import type { Registry } from "./registry.js";

/** Extra time the coordinator waits beyond the command timeout for the worker's reply. */
export const REPLY_GRACE_MS = 3000;

/** Longest request id quoted from a forged message into the audit trail (the body is the forger's). */
const QUOTED_ID_CHARS = 64;

/** A node answering as another: `node_id` sent it (NATS proves it), `claimed` is the id in its body. */
export interface Forgery {
  node_id: string;
  claimed: string;
  kind: "broadcast" | "exec" | "call";
  /** The broadcast's id as the forged result gave it (cut to 64 characters). */
  broadcast_id?: string;
  /** The exec request the forged reply answered. */
  exec_id?: string;
  /** The capability call the forged reply answered. */
  call_id?: string;
}

export interface DispatchOptions {
  nc: () => NatsConnection | undefined;
  subjects: Subjects;
  registry: Registry;
  maxOutputBytes: number;
  logger: Logger;
  /** A node claimed to be another in a result (the coordinator audits it as `nats.forgery`). */
  onForgery?: (forgery: Forgery) => void;
  /** Count a message dropped unread (`reason`). */
  onDropped?: (reason: string) => void;
}

/** A broadcast waiting for its results: filled by `onBroadcastResult`, ended by `finish`. */
interface PendingBroadcast {
  readonly expected: ReadonlyMap<string, NodeRecord>;
  readonly results: Map<string, NodeExecResult>;
  readonly onResult: ((result: NodeExecResult) => void) | undefined;
  /** Results taken so far: the broadcast ends when it reaches `expected.size`. */
  answered: number;
  /** What `onResult` threw: the broadcast ends with it. */
  failure?: { error: unknown };
  finish: () => void;
}

function emptyResult(node: NodeRecord, status: NodeResultStatus, error?: { code: ErrorCode; message: string }): NodeExecResult {
  return { node: node.name, node_id: node.id, status, exit_code: null, signal: null, stdout: "", stderr: "", duration_ms: 0, truncated: false, ...(error ? { error } : {}) };
}

function fromWire(node: NodeRecord, result: ExecResult): NodeExecResult {
  const { v: _version, id: _id, ...fields } = result;
  return { node: node.name, ...fields, node_id: node.id };
}

export class Dispatcher {
  /** Broadcasts waiting for results, by broadcast id. */
  private readonly pending = new Map<string, PendingBroadcast>();

  constructor(private readonly options: DispatchOptions) {}

  private connection(): NatsConnection {
    const nc = this.options.nc();
    if (!nc || nc.isClosed()) throw new FleetError("unavailable", "coordinator is not connected to NATS");
    return nc;
  }

  /** The node for `ref`, refusing an offline one at once. */
  private onlineNode(ref: string): NodeRecord {
    const node = this.options.registry.resolve(ref);
    if (node.status !== "online") {
      throw new FleetError("node_offline", `node "${node.name}" is offline (last seen ${node.last_seen ? new Date(node.last_seen).toISOString() : "never"})`);
    }
    return node;
  }

  /** One request to one node, with transport failures turned into FleetErrors. */
  private async ask(node: NodeRecord, subject: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    const nc = this.connection();
    const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
    if (body.length > maxPayload) {
      throw new FleetError("payload_too_large", `the request is ${body.length} bytes on the wire, more than the NATS server's max_payload (${maxPayload})`);
    }
    try {
      return await request(nc, subject, body, timeoutMs);
    } catch (error) {
      if (error instanceof RequestFailed) {
        if (error.reason === "no_responders") throw new FleetError("node_offline", `node "${node.name}" is not connected`);
        if (error.reason === "closed") throw new FleetError("unavailable", "coordinator is not connected to NATS");
        throw new FleetError("timeout", `node "${node.name}" did not answer within ${timeoutMs} ms`);
      }
      throw error;
    }
  }

  /** Call a capability on one node: its answer (a file or JSON), or a FleetError saying why not. */
  async call(ref: string, capability: CallCapability, params: CallRequest["params"], timeoutMs: number): Promise<{ node: NodeRecord; result: CallResult }> {
    // A capability the node lacks is asked for anyway: only the node can say what is missing
    // (no display, no camera device, no ffmpeg) and it answers capability_unavailable at once.
    const node = this.onlineNode(ref);
    const id = randomUUID();
    const clean = Object.fromEntries(Object.entries(params).filter(([, value]) => value !== undefined));
    const body = encodeMessage({ v: PROTOCOL_VERSION, id, capability, params: clean, timeout_ms: timeoutMs });
    const data = await this.ask(node, this.options.subjects.call(node.id), body, timeoutMs + REPLY_GRACE_MS);
    let result: CallResult;
    try {
      result = decodeMessage(data, CallResultSchema);
    } catch (error) {
      throw new FleetError("internal", `node "${node.name}" sent an invalid reply: ${(error as Error).message}`);
    }
    if (result.node_id !== node.id) {
      // As with exec: only the node asked could answer, so it lies about who it is.
      this.options.logger.warn({ node_id: node.id, claimed: result.node_id, call_id: id, capability }, "call reply from a node claiming to be another: refused as a forgery");
      this.options.onForgery?.({ node_id: node.id, claimed: result.node_id, kind: "call", call_id: id });
      throw new FleetError("internal", `node "${node.name}" answered claiming to be node "${result.node_id}"; its reply was refused and audited as a forgery`);
    }
    if (result.error) throw new FleetError(result.error.code, result.error.message);
    if (result.id !== id || (result.data === undefined && result.json === undefined)) {
      throw new FleetError("internal", `node "${node.name}" sent an empty reply or one for another request`);
    }
    return { node, result };
  }

  /** A file from a capability call (screen.capture, camera.snap). */
  async callForFile(ref: string, capability: CallCapability, params: CallRequest["params"], timeoutMs: number): Promise<{ node: NodeRecord; mime: string; data: Buffer; duration_ms: number }> {
    const { node, result } = await this.call(ref, capability, params, timeoutMs);
    if (!result.data || !result.mime) throw new FleetError("internal", `node "${node.name}" sent no file`);
    return { node, mime: result.mime, data: Buffer.from(result.data, "base64"), duration_ms: result.duration_ms };
  }

  /** Run one command on one node. Refusals become FleetErrors; a finished command is a result. */
  async exec(ref: string, command: string, timeoutMs: number): Promise<NodeExecResult> {
    const node = this.onlineNode(ref);
    const id = randomUUID();
    const body = encodeMessage({ v: PROTOCOL_VERSION, id, command, timeout_ms: timeoutMs, max_output_bytes: this.options.maxOutputBytes });
    const started = Date.now();
    const data = await this.ask(node, this.options.subjects.exec(node.id), body, timeoutMs + REPLY_GRACE_MS);
    let result: ExecResult;
    try {
      result = decodeMessage(data, ExecResultSchema);
    } catch (error) {
      this.options.logger.warn({ node_id: node.id, err: (error as Error).message }, "invalid exec reply");
      throw new FleetError("internal", `node "${node.name}" sent an invalid reply: ${(error as Error).message}`);
    }
    if (result.node_id !== node.id) {
      // Only the node asked could answer (it may publish a reply only to a request it received):
      // the node lies about who it is.
      this.options.logger.warn({ node_id: node.id, claimed: result.node_id, exec_id: id }, "exec reply from a node claiming to be another: refused as a forgery");
      this.options.onForgery?.({ node_id: node.id, claimed: result.node_id, kind: "exec", exec_id: id });
      throw new FleetError("internal", `node "${node.name}" answered claiming to be node "${result.node_id}"; its reply was refused and audited as a forgery`);
    }
    if (result.id !== id) {
      this.options.logger.warn({ node_id: node.id, exec_id: id }, "exec reply for another request");
      throw new FleetError("internal", `node "${node.name}" sent a reply for another request`);
    }
    // A refusal (busy, not approved, could not start) never ran: no exit code and no signal.
    if (result.error && result.status === "error" && result.exit_code === null && result.signal === null) {
      throw new FleetError(result.error.code, `node "${node.name}": ${result.error.message}`);
    }
    this.options.logger.info({ node_id: node.id, exec_id: id, exit_code: result.exit_code, status: result.status, ms: Date.now() - started }, "exec done");
    return fromWire(node, result);
  }

  /** Run on every matching node; `onResult` sees each node's result as it arrives (offline ones first). */
  async broadcast(command: string, labels: Labels, timeoutMs: number, onResult?: (result: NodeExecResult) => void): Promise<BroadcastOutcome> {
    const started = Date.now();
    const id = randomUUID();
    const targets = this.options.registry.select(labels);
    const results = new Map<string, NodeExecResult>();
    const expected = new Map<string, NodeRecord>();
    for (const node of targets) {
      if (node.status === "online") expected.set(node.id, node);
      else results.set(node.id, emptyResult(node, "offline", { code: "node_offline", message: "node is offline" }));
    }
    for (const result of results.values()) onResult?.(result);

    if (expected.size > 0) {
      const nc = this.connection();
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const pending: PendingBroadcast = { expected, results, onResult, answered: 0, finish };
      this.pending.set(id, pending);
      const deadline = setTimeout(finish, timeoutMs + REPLY_GRACE_MS);
      try {
        // No reply subject: results arrive on each node's own subject (onBroadcastResult).
        nc.publish(this.options.subjects.broadcast("exec"), encodeMessage({ v: PROTOCOL_VERSION, id, command, timeout_ms: timeoutMs, max_output_bytes: this.options.maxOutputBytes, labels }));
        await finished;
      } finally {
        clearTimeout(deadline);
        this.pending.delete(id);
      }
      if (pending.failure) throw pending.failure.error;
      for (const node of expected.values()) {
        if (!results.has(node.id)) {
          const missing = emptyResult(node, "timeout", { code: "timeout", message: `no reply within ${timeoutMs + REPLY_GRACE_MS} ms` });
          results.set(node.id, missing);
          onResult?.(missing);
        }
      }
    }

    const ordered = targets.map((node) => results.get(node.id) as NodeExecResult);
    const summary = { total: ordered.length, ok: 0, error: 0, timeout: 0, offline: 0, duration_ms: Date.now() - started };
    for (const result of ordered) summary[result.status] += 1;
    this.options.logger.info({ broadcast_id: id, ...summary }, "broadcast done");
    return { id, command, labels, results: ordered, summary };
  }

  /** True when a waiting broadcast targets `nodeId` and has no result from it yet. */
  private awaits(nodeId: string): boolean {
    for (const pending of this.pending.values()) {
      if (!pending.failure && pending.expected.has(nodeId) && !pending.results.has(nodeId)) return true;
    }
    return false;
  }

  /**
   * A broadcast result from `<prefix>.node.<id>.bres` (the coordinator's subscription to every
   * node's results). The node is the one in the subject: only it may publish there. A body naming
   * another node is a forgery: refused, logged and audited. A result is not even decoded unless a
   * waiting broadcast targets its node and has no result from it yet; results for a broadcast that
   * is unknown or over, from a node it did not target, and repeats are dropped. Log lines a node
   * can cause are limited to a few a minute per kind.
   */
  onBroadcastResult(msg: Pick<Msg, "subject" | "data">): void {
    const log = this.options.logger;
    const sender = this.options.subjects.nodeIdOf(msg.subject);
    if (sender === undefined) {
      log.debug({ subject: msg.subject }, "broadcast result on a subject naming no node ignored");
      return;
    }
    // Read only what some broadcast waits for: a node no waiting broadcast targets (or that
    // answered already) costs a look at the waiting broadcasts, not a parse of up to a megabyte.
    if (!this.awaits(sender)) {
      this.options.onDropped?.("broadcast_result_unexpected");
      if (log.isLevelEnabled("debug")) limited(log).debug("broadcast-result.unexpected", { node_id: sender, bytes: msg.data.length }, "broadcast result while no broadcast waits for this node: dropped unread");
      return;
    }
    let result: ExecResult;
    try {
      result = decodeMessage(msg.data, ExecResultSchema);
    } catch (error) {
      limited(log).warn("broadcast-result.invalid", { node_id: sender, err: (error as Error).message.slice(0, 500) }, "invalid broadcast result ignored");
      return;
    }
    if (result.node_id !== sender) {
      const broadcastId = result.id.slice(0, QUOTED_ID_CHARS);
      limited(log).warn("broadcast-result.forged", { node_id: sender, claimed: result.node_id, broadcast_id: broadcastId }, "broadcast result from a node claiming to be another: ignored as a forgery");
      this.options.onForgery?.({ node_id: sender, claimed: result.node_id, kind: "broadcast", broadcast_id: broadcastId });
      return;
    }
    const pending = this.pending.get(result.id);
    const node = pending?.expected.get(sender);
    if (!pending || !node || pending.results.has(sender) || pending.failure) {
      limited(log).debug("broadcast-result.unexpected", { node_id: sender, broadcast_id: result.id.slice(0, QUOTED_ID_CHARS) }, "broadcast result for no waiting broadcast, from a node it did not target, or repeated: ignored");
      return;
    }
    const converted = fromWire(node, result);
    pending.results.set(sender, converted);
    try {
      pending.onResult?.(converted);
    } catch (error) {
      pending.failure = { error };
      pending.finish();
      return;
    }
    // Count, not scan: a scan of every expected node per result is quadratic at 10,000 nodes.
    pending.answered += 1;
    if (pending.answered === pending.expected.size) pending.finish();
  }
}

/**
 * Where the coordinator answers a node's requests (a join over NATS, a task result): only in that
 * node's own inbox, `_INBOX_<id>.…`. A reply subject is whatever the sender wrote; answering it
 * blindly made the coordinator publish, with its full rights, an error body on any subject a node
 * chose: the coordinator's own pending requests (an exec then failed as "invalid reply") or
 * another node's command subjects. Anything else is dropped, counted and logged a few lines a minute.
 */
import type { Logger } from "pino";
import type { Msg } from "../transport/connection.js";
import { isNodeInbox, nodeInboxPrefix } from "../transport/trust.js";
import { limited } from "../util/logger.js";

export interface ReplyOptions {
  logger: Logger;
  /** Count a reply not sent (`reason` like `enroll_reply`). */
  onDropped?: ((reason: string) => void) | undefined;
}

/** A reply the coordinator will not send: counted, and logged at most a few lines a minute per kind. */
export function dropReply(options: ReplyOptions, what: string, reply: string, why: string): void {
  options.onDropped?.(`${what}_reply`);
  limited(options.logger).warn(`reply.refused.${what}`, { what, reply: reply.slice(0, 128), why }, "reply refused: the coordinator answers a node only in its own inbox");
}

/**
 * Answer `msg` with `body` when its reply subject is an inbox of `nodeId` (the node NATS or a
 * verified signature says sent it); otherwise send nothing. Returns whether it answered.
 */
export function answerNode(options: ReplyOptions, msg: Pick<Msg, "reply" | "respond">, nodeId: string, body: Uint8Array, what: string): boolean {
  if (!msg.reply) return false;
  if (!isNodeInbox(msg.reply, nodeId)) {
    dropReply(options, what, msg.reply, `not an inbox of node ${nodeId} (${nodeInboxPrefix(nodeId)}.…)`);
    return false;
  }
  try {
    return msg.respond(body);
  } catch (error) {
    options.logger.warn({ err: (error as Error).message, what, node_id: nodeId }, "could not answer on NATS");
    return false;
  }
}

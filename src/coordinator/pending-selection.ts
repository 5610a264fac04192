/**
 * Which pending join requests a bulk reject selects (`POST /api/v1/pending/reject`, `ocf nodes
 * reject --all | --address | --older-than | --node`). The criteria combine (a request must match
 * every one given); `all: true` selects every pending request and stands alone. An empty selection
 * is refused, so nobody rejects everything by leaving the filters out.
 */
import { BlockList, isIP } from "node:net";
import { z } from "zod";
import { FleetError } from "../protocol/errors.js";
import type { JoinRequestRecord } from "../storage/join-requests.js";

/** `::ffff:10.0.0.5` (an IPv4 client of a dual-stack socket) → `10.0.0.5`; other addresses as they are. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped?.[1] ?? address;
}

/** 90s, 15m, 2h, 7d → milliseconds. */
export function parseAge(value: string): number | undefined {
  const match = /^(\d{1,9})(s|m|h|d)$/.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "s" | "m" | "h" | "d"];
}

/** An IP address, or a CIDR prefix such as 10.0.0.0/24 or 2001:db8::/64. */
function addressRule(value: string): { ip: string; prefix: number | undefined; family: "ipv4" | "ipv6" } | undefined {
  const [raw = "", prefixText, extra] = value.split("/");
  if (extra !== undefined) return undefined;
  const ip = normalizeAddress(raw);
  const version = isIP(ip);
  if (version === 0) return undefined;
  if (prefixText === undefined) return { ip, prefix: undefined, family: version === 4 ? "ipv4" : "ipv6" };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > (version === 4 ? 32 : 128)) return undefined;
  return { ip, prefix: Number(prefixText), family: version === 4 ? "ipv4" : "ipv6" };
}

export const PendingSelectionSchema = z.strictObject({
  /** Every pending request (alone: not with the filters). */
  all: z.literal(true).optional(),
  /** Requests that last came from this address, or from this CIDR prefix. */
  address: z.string().max(64).refine((value) => addressRule(value) !== undefined, "address must be an IP address or a CIDR prefix, e.g. 10.0.0.7, 10.0.0.0/24, 2001:db8::/64").optional(),
  /** Requests waiting longer than this (since they were first made): 90s, 15m, 2h, 7d. */
  older_than: z.string().max(16).refine((value) => parseAge(value) !== undefined, "older_than must be a duration like 90s, 15m, 2h, 7d").optional(),
  /** Requests whose node id matches this pattern (`*` any run, `?` one character), e.g. sim-*. */
  node: z.string().regex(/^[a-z0-9*?-]{1,64}$/, "node must be a node id pattern of a-z, 0-9, -, * and ? (e.g. sim-*)").optional(),
  /** Why: told to the workers and kept with each request. */
  reason: z.string().max(500).optional(),
  /** Only say what would be rejected. */
  dry_run: z.boolean().optional(),
});
export type PendingSelection = z.infer<typeof PendingSelectionSchema>;

/** A predicate for the selection; throws bad_request for an empty selection or `all` with filters. */
export function pendingMatcher(selection: PendingSelection, now: number): (request: JoinRequestRecord) => boolean {
  const filters = [selection.address, selection.older_than, selection.node].filter((value) => value !== undefined).length;
  if (selection.all === true) {
    if (filters > 0) throw new FleetError("bad_request", "all: true selects every pending request; give it alone, or give address, older_than and node without it");
    return () => true;
  }
  if (filters === 0) {
    throw new FleetError("bad_request", "say which pending requests to reject: all: true, or any of address (IP or CIDR), older_than (e.g. 1h) and node (a node id pattern such as sim-*); an empty selection rejects nothing");
  }
  const tests: Array<(request: JoinRequestRecord) => boolean> = [];
  if (selection.address !== undefined) {
    const rule = addressRule(selection.address);
    if (!rule) throw new FleetError("bad_request", "address must be an IP address or a CIDR prefix");
    const list = new BlockList();
    if (rule.prefix === undefined) list.addAddress(rule.ip, rule.family);
    else list.addSubnet(rule.ip, rule.prefix, rule.family);
    tests.push((request) => {
      if (request.address === null) return false;
      const address = normalizeAddress(request.address);
      const version = isIP(address);
      return version !== 0 && list.check(address, version === 4 ? "ipv4" : "ipv6");
    });
  }
  if (selection.older_than !== undefined) {
    const age = parseAge(selection.older_than) ?? 0;
    tests.push((request) => now - request.created_at > age);
  }
  if (selection.node !== undefined) {
    const pattern = new RegExp(`^${selection.node.replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    tests.push((request) => pattern.test(request.node_id));
  }
  return (request) => tests.every((check) => check(request));
}

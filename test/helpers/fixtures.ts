/** Small shared fixtures for tests: scratch folders and a valid join payload. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import type { JoinPayload } from "../../src/protocol/messages.js";

/**
 * A temp folder for the calling test file (removed when its tests end) and a function that makes a
 * new, empty sub-folder (mode 0700) on each call. Call it at the top level of a test file.
 */
export function scratchDirs(prefix: string): { root: string; freshDir: () => string } {
  const root = mkdtempSync(join(tmpdir(), `ocf-${prefix}-test-`));
  after(() => rmSync(root, { recursive: true, force: true }));
  let counter = 0;
  return {
    root,
    freshDir: () => {
      counter += 1;
      const dir = join(root, `d${counter}`);
      mkdirSync(dir, { mode: 0o700 });
      return dir;
    },
  };
}

/** A join payload that passes validation, signed now (`ts`: the coordinator accepts ±5 min); `extra` overrides fields. */
export function joinPayload(nodeId: string, extra: Partial<JoinPayload> = {}): JoinPayload {
  return {
    node_id: nodeId,
    name: nodeId,
    hostname: `${nodeId}.local`,
    os: "linux",
    arch: "x64",
    ips: ["100.64.0.9"],
    labels: {},
    capabilities: ["shell.exec"],
    version: "0.1.0",
    max_concurrent_tasks: 5,
    ts: Date.now(),
    ...extra,
  };
}

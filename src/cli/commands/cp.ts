/**
 * `ocf cp <node>:<path> <local>` and `ocf cp <local> <node>:<path>`: copy a file from or to a node,
 * within its worker.file_roots, checked by SHA-256 end to end.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";

/** `node:path` → { node, path }; a local path (no colon before the first slash) → undefined. */
export function parseRemote(spec: string): { node: string; path: string } | undefined {
  const match = /^([A-Za-z0-9][A-Za-z0-9 _.-]{0,127}):(.+)$/.exec(spec);
  if (!match || spec.startsWith("/") || spec.startsWith(".")) return undefined;
  return { node: match[1] as string, path: match[2] as string };
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

export function register(program: Command): void {
  program
    .command("cp <source> <destination>")
    .description("copy a file from a node (node:path) to here, or from here to a node; paths on the node must be inside its worker.file_roots")
    .action(async (source: string, destination: string, _options, command: Command) => {
      const from = parseRemote(source);
      const to = parseRemote(destination);
      if ((from && to) || (!from && !to)) throw new CliError("exactly one side must be a node path like home-server:/tmp/report.txt", EXIT.usage);
      const client = clientFor(command);
      const json = globals(command).json === true;
      if (from) {
        const file = await client.getFile(from.node, from.path).catch(fromClientError);
        const actual = sha256(file.data);
        if (file.sha256 && actual !== file.sha256) throw new CliError(`checksum mismatch: the node sent ${file.sha256}, received ${actual}; nothing written`, EXIT.failure);
        let target = resolve(destination);
        if (existsSync(target) && statSync(target).isDirectory()) target = join(target, basename(file.path));
        writeFileSync(target, file.data);
        if (json) printJson({ from: `${from.node}:${file.path}`, to: target, bytes: file.data.length, sha256: actual });
        else console.log(`${from.node}:${file.path} → ${target} (${file.data.length} bytes, sha256 ${actual.slice(0, 16)}…)`);
        return;
      }
      const target = to as { node: string; path: string };
      let data: Buffer;
      try {
        data = readFileSync(resolve(source));
      } catch (error) {
        throw new CliError(`cannot read ${source}: ${(error as Error).message}`, EXIT.usage);
      }
      const path = target.path.endsWith("/") ? `${target.path}${basename(source)}` : target.path;
      const written = await client.putFile(target.node, path, data, sha256(data)).catch(fromClientError);
      if (json) printJson({ from: resolve(source), to: `${written.node_id}:${written.path}`, bytes: written.bytes, sha256: written.sha256 });
      else console.log(`${resolve(source)} → ${written.node_id}:${written.path} (${written.bytes} bytes, sha256 ${written.sha256.slice(0, 16)}…)`);
    });
}

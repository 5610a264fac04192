/**
 * `ocf cp <node>:<path> <local>` and `ocf cp <local> <node>:<path>`: copy a file from or to a node,
 * within its worker.file_roots, checked by SHA-256 end to end.
 *
 * Names on this machine come from the operator's arguments only: copying into a folder names the
 * file after the remote path that was asked for, never after the path the node says it read (a
 * node could answer `.bashrc` for `/tmp/report.txt`). Paths the fleet sends back are printed
 * escaped.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve, sep } from "node:path";
import type { Command } from "commander";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { printable } from "../format.js";

/** `node:path` → { node, path }; a local path (no colon before the first slash) → undefined. */
export function parseRemote(spec: string): { node: string; path: string } | undefined {
  const match = /^([A-Za-z0-9][A-Za-z0-9 _.-]{0,127}):(.+)$/.exec(spec);
  if (!match || spec.startsWith("/") || spec.startsWith(".")) return undefined;
  return { node: match[1] as string, path: match[2] as string };
}

/**
 * The last name in a path as a node spells it (`/` or `\`, trailing separators ignored), or
 * undefined when it names no file: empty, `.` or `..`.
 */
export function remoteFileName(path: string): string | undefined {
  const name = path.split(/[/\\]+/).filter((part) => part !== "").at(-1);
  return name === undefined || name === "." || name === ".." ? undefined : name;
}

/**
 * Where `ocf cp <node>:<remote> <destination>` writes: the destination itself, or, when it is a
 * folder (or ends with a separator), the remote file's name inside it. The name comes from what the
 * operator asked for, never from the node's answer.
 */
export function localTarget(destination: string, remote: string, isFolder: (path: string) => boolean): string {
  const target = resolve(destination);
  const wantsFolder = destination.endsWith("/") || destination.endsWith(sep);
  if (!wantsFolder && !isFolder(target)) return target;
  if (!isFolder(target)) throw new CliError(`${destination} is not a folder here: create it first, or give a file name`, EXIT.usage);
  const name = remoteFileName(remote);
  if (name === undefined) throw new CliError(`${printable(remote)} names no file to save it as here: give the local file name, e.g. ocf cp node:${printable(remote)} ${join(destination, "copy")}`, EXIT.usage);
  return join(target, name);
}

const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");
const isFolder = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();

export function register(program: Command): void {
  program
    .command("cp <source> <destination>")
    .description("copy a file from a node (node:path) to here, or from here to a node; paths on the node must be inside its worker.file_roots; a copy into a folder is named after the path you gave")
    .action(async (source: string, destination: string, _options, command: Command) => {
      const from = parseRemote(source);
      const to = parseRemote(destination);
      if ((from && to) || (!from && !to)) throw new CliError("exactly one side must be a node path like home-server:/tmp/report.txt", EXIT.usage);
      const json = globals(command).json === true;
      if (from) {
        // Decided before asking the node: its answer cannot change where the file goes.
        const target = localTarget(destination, from.path, isFolder);
        const client = clientFor(command);
        const file = await client.getFile(from.node, from.path).catch(fromClientError);
        const actual = sha256(file.data);
        if (file.sha256 && actual !== file.sha256) throw new CliError(`checksum mismatch: the node sent ${printable(file.sha256)}, received ${actual}; nothing written`, EXIT.failure);
        try {
          writeFileSync(target, file.data);
        } catch (error) {
          throw new CliError(`cannot write ${target}: ${(error as Error).message}`, EXIT.failure);
        }
        const asked = remoteFileName(from.path);
        const answered = remoteFileName(file.path);
        if (json) printJson({ requested: `${from.node}:${from.path}`, from: `${from.node}:${file.path}`, to: target, bytes: file.data.length, sha256: actual });
        else {
          console.log(`${printable(`${from.node}:${from.path}`)} → ${printable(target)} (${file.data.length} bytes, sha256 ${actual.slice(0, 16)}…)`);
          // A link inside the node's shared folders reads another file; so does a node that lies.
          if (asked !== undefined && answered !== asked) {
            process.stderr.write(`ocf: note: the node answered with another file name (${printable(file.path)}) than the one asked for (${printable(asked)}): a link on the node, or a node not telling the truth; saved as ${printable(target)}\n`);
          }
        }
        return;
      }
      const remote = to as { node: string; path: string };
      let data: Buffer;
      try {
        data = readFileSync(resolve(source));
      } catch (error) {
        throw new CliError(`cannot read ${source}: ${(error as Error).message}`, EXIT.usage);
      }
      const client = clientFor(command);
      const path = remote.path.endsWith("/") ? `${remote.path}${basename(source)}` : remote.path;
      const written = await client.putFile(remote.node, path, data, sha256(data)).catch(fromClientError);
      if (json) printJson({ from: resolve(source), to: `${written.node_id}:${written.path}`, bytes: written.bytes, sha256: written.sha256 });
      else console.log(`${printable(resolve(source))} → ${printable(`${written.node_id}:${written.path}`)} (${written.bytes} bytes, sha256 ${printable(written.sha256.slice(0, 16))}…)`);
    });
}

/**
 * `ocf skills list [node]` and `ocf skills run <node> <skill> --param k=v`: the skills each worker
 * offers from its worker.skills_dir, and running one with parameters the worker validates.
 */
import type { Command } from "commander";
import { formatSkills } from "../../client/format-skills.js";
import { clientFor, fromClientError, globals, parseDuration, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { printable } from "../format.js";

/** `k=v` pairs into an object of strings; the node converts each to the type the skill's schema gives. */
export function parseParams(pairs: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError(`--param "${pair}" is not key=value`, EXIT.usage);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return params;
}

export function register(program: Command): void {
  const skills = program.command("skills").description("skills the workers offer from their worker.skills_dir (folders with a skill.yaml)");

  skills
    .command("list [node]")
    .description("list the skills of one node, or of every online node, with their parameters")
    .action(async (node: string | undefined, _options, command: Command) => {
      const nodes = await clientFor(command).skills(node).catch(fromClientError);
      if (globals(command).json) printJson({ nodes, count: nodes.length });
      else console.log(formatSkills(nodes));
      if (nodes.some((n) => n.status !== "ok" && n.status !== "offline")) process.exitCode = EXIT.failure;
    });

  skills
    .command("run <node> <skill>")
    .description("run a skill on a node, e.g. ocf skills run home-server disk-usage --param path=/var; exits with the skill's exit code")
    .option("-p, --param <key=value>", "a parameter (repeatable); the node converts it to the type the skill's schema says", (value: string, all: string[]) => [...all, value], [] as string[])
    .option("--params <json>", "all parameters as one JSON object (merged under --param)")
    .option("-t, --timeout <duration>", "give up sooner than the skill's own timeout, e.g. 30s")
    .action(async (node: string, skill: string, options: { param: string[]; params?: string; timeout?: string }, command: Command) => {
      let base: Record<string, unknown> = {};
      if (options.params !== undefined) {
        try {
          base = JSON.parse(options.params) as Record<string, unknown>;
        } catch (error) {
          throw new CliError(`--params is not valid JSON: ${(error as Error).message}`, EXIT.usage);
        }
        if (typeof base !== "object" || base === null || Array.isArray(base)) throw new CliError("--params must be a JSON object, e.g. '{\"path\": \"/var\"}'", EXIT.usage);
      }
      const params = { ...base, ...parseParams(options.param) };
      const timeoutMs = options.timeout ? parseDuration(options.timeout) : undefined;
      const result = await clientFor(command).runSkill(node, skill, params, timeoutMs).catch(fromClientError);
      if (globals(command).json) printJson(result);
      else {
        process.stdout.write(result.stdout);
        process.stderr.write(result.stderr);
        if (result.truncated) process.stderr.write(`\n[ocf] output was truncated (see worker.max_output_bytes)\n`);
        if (result.error) process.stderr.write(`[ocf] ${printable(result.error.message)}\n`);
      }
      process.exitCode = result.status === "timeout" ? EXIT.timeout : (result.exit_code ?? (result.signal ? 128 : EXIT.failure));
    });
}

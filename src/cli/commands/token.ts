import type { Command } from "commander";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";
import { ago, printable, table } from "../format.js";

const SCOPES = ["read", "exec", "admin"] as const;

export function register(program: Command): void {
  const token = program.command("token").description("API tokens with scopes: read (lists, health, audit), exec (+ exec, broadcast), admin (everything)");

  token
    .command("create")
    .description("create a token; it is printed once and stored only as a hash")
    .requiredOption("--name <name>", "a name for the token (shown in the audit trail as token:<name>)")
    .requiredOption("--scope <scope>", "read | exec | admin")
    .action(async (options: { name: string; scope: string }, command: Command) => {
      const scope = SCOPES.find((s) => s === options.scope);
      if (!scope) throw new CliError(`--scope "${options.scope}" must be one of: ${SCOPES.join(", ")}`, EXIT.usage);
      const created = await clientFor(command).createToken(options.name, scope).catch(fromClientError);
      if (globals(command).json) printJson(created);
      else console.log(`${printable(`created token ${created.id} "${created.name}" with scope ${created.scope}; it is shown only now:`)}\n${printable(created.token)}`);
    });

  token
    .command("list")
    .alias("ls")
    .description("list tokens (never their secrets)")
    .action(async (_options, command: Command) => {
      const tokens = await clientFor(command).tokens().catch(fromClientError);
      if (globals(command).json) printJson(tokens);
      else if (tokens.length === 0) console.log("no tokens besides the admin token (create one: ocf token create --name NAME --scope read)");
      else console.log(table(["ID", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED"], tokens.map((t) => [t.id, t.name, t.scope, ago(t.created_at), t.last_used_at ? ago(t.last_used_at) : "never", t.revoked_at ? ago(t.revoked_at) : "-"])));
    });

  token
    .command("revoke <id>")
    .description("revoke a token by id or name; it stops working at once")
    .action(async (ref: string, _options, command: Command) => {
      const revoked = await clientFor(command).revokeToken(ref).catch(fromClientError);
      if (globals(command).json) printJson(revoked);
      else console.log(printable(`revoked token ${revoked.id} "${revoked.name}"`));
    });
}

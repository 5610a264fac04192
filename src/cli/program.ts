/** The `ocf` program: parses and dispatches; each verb lives in src/cli/commands/ and loads its heavy parts only when it runs. */
import { Command, CommanderError } from "commander";
import { SOFTWARE_VERSION } from "../version.js";
import { CliError, EXIT } from "./errors.js";
import { printable } from "../protocol/text.js";
import { register as registerAudit } from "./commands/audit.js";
import { register as registerToken } from "./commands/token.js";
import { register as registerAutoApprove } from "./commands/auto-approve.js";
import { register as registerBroadcast } from "./commands/broadcast.js";
import { register as registerExec } from "./commands/exec.js";
import { register as registerHealth } from "./commands/health.js";
import { register as registerNodes } from "./commands/nodes.js";
import { register as registerStart } from "./commands/start.js";
import { register as registerNatsConfig } from "./commands/nats-config.js";
import { register as registerMcp } from "./commands/mcp.js";
import { register as registerOpenClaw } from "./commands/openclaw.js";
import { register as registerCapture } from "./commands/capture.js";
import { register as registerSkills } from "./commands/skills.js";
import { register as registerConfig } from "./commands/config.js";
import { register as registerTasks } from "./commands/tasks.js";
import { register as registerDashboard } from "./commands/dashboard.js";
import { register as registerInfo } from "./commands/info.js";
import { register as registerCp } from "./commands/cp.js";
import { register as registerSim } from "./commands/sim.js";

export function buildProgram(): Command {
  const program = new Command("ocf")
    .description("OpenClaw Federation: run commands across a fleet of machines over NATS")
    .version(SOFTWARE_VERSION, "-V, --version")
    .option("-c, --config <path>", "config file (default: config/config.yaml of this installation, or OCF_CONFIG)")
    .option("--url <url>", "coordinator URL (default: OCF_URL, or the local coordinator)")
    .option("--token-file <file>", "read the API token from this file (mode 0600); unlike --token it stays out of ps and shell history")
    .option("--token <token>", "API token (visible to every user in ps: prefer OCF_TOKEN or --token-file; default: OCF_TOKEN, or the local coordinator's admin.token)")
    .option("--json", "machine-readable JSON output")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  registerStart(program);
  registerHealth(program);
  registerNodes(program);
  registerExec(program);
  registerBroadcast(program);
  registerAutoApprove(program);
  registerAudit(program);
  registerToken(program);
  registerNatsConfig(program);
  registerMcp(program);
  registerOpenClaw(program);
  registerCapture(program);
  registerSkills(program);
  registerConfig(program);
  registerTasks(program);
  registerDashboard(program);
  registerInfo(program);
  registerCp(program);
  registerSim(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return EXIT.ok;
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      // Messages may quote what the coordinator said about fleet text: never let it drive the terminal.
      process.stderr.write(`ocf: ${printable(error.message, "\n")}\n`);
      return error.exitCode;
    }
    process.stderr.write(`ocf: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failure;
  }
}


/**
 * `ocf nats-config`: the nats-server config that trusts this coordinator's fleet keys (operator
 * mode, accounts preloaded, revocations included). `ocf up` writes the same config itself; this
 * is for a nats-server run by systemd or by hand next to `ocf coordinator`.
 */
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { TRUST_DIR } from "../../coordinator/paths.js";
import type { TrustStore } from "../../transport/trust.js";
import { ensurePrivateDir, writeFileAtomic } from "../../util/files.js";
import { parseNatsUrl } from "../../util/net.js";
import { globals, loadCliConfig, printJson } from "../context.js";
import { CliError, EXIT } from "../errors.js";

interface NatsConfigOptions {
  out?: string;
  dir?: string;
  host?: string;
  port?: string;
}

export function register(program: Command): void {
  program
    .command("nats-config")
    .description("print (or write with --out) a nats-server config in operator mode trusting this coordinator's keys; creates the keys on first use")
    .option("-o, --out <file>", "write the config to this file (mode 0600) instead of printing it")
    .option("--dir <dir>", "folder for the server's account JWTs, pid file and JetStream store (default: <coordinator.state_dir>/nats)")
    .option("--host <host>", "address to listen on (default: the host of communication.nats_url)")
    .option("--port <port>", "port to listen on (default: the port of communication.nats_url)")
    .action(async (options: NatsConfigOptions, command: Command) => {
      const global = globals(command);
      const loaded = loadCliConfig(global);
      const stateDir = loaded.resolvePath(loaded.config.coordinator.state_dir);
      const url = parseNatsUrl(loaded.config.communication.nats_url);
      const port = options.port === undefined ? url.port : Number(options.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--port must be a port number (1-65535), not "${options.port}"`, EXIT.usage);
      const dir = resolve(options.dir ?? join(stateDir, "nats"));
      ensurePrivateDir(dir);
      // Loaded here, not at start: the CLI only pays for what the command uses.
      const { natsServerConfig } = await import("../../transport/nats-server.js");
      const { TrustStore: Store } = await import("../../transport/trust.js");
      let trust: TrustStore;
      try {
        trust = await Store.open(join(stateDir, TRUST_DIR));
      } catch (error) {
        throw new CliError(`cannot open the fleet keys in ${join(stateDir, TRUST_DIR)}: ${(error as Error).message}`, EXIT.failure);
      }
      const lines = natsServerConfig({ dir, host: options.host ?? url.host, port, jetstream: true, extraConfig: await trust.serverConfig(join(dir, "jwt")) });
      const text = `# nats-server config for OpenClaw Federation (operator mode), written by ocf nats-config\n${lines.join("\n")}\n`;
      if (options.out) {
        writeFileAtomic(resolve(options.out), text, 0o600);
        if (global.json) printJson({ file: resolve(options.out), operator: trust.trust.operator.getPublicKey(), account: trust.accountPublicKey });
        else console.log(`wrote ${resolve(options.out)}; start the server with: nats-server -c ${resolve(options.out)}`);
      } else if (global.json) {
        printJson({ config: text, operator: trust.trust.operator.getPublicKey(), account: trust.accountPublicKey });
      } else {
        process.stdout.write(text);
      }
    });
}

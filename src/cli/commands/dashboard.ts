/**
 * `ocf dashboard [--no-open] [--json]`: a one-time login link to the coordinator's web dashboard
 * (works once, for two minutes, with this token's scope), opened in a browser where there is one.
 */
import { spawn } from "node:child_process";
import type { Command } from "commander";
import { which } from "../../worker/capabilities.js";
import { clientFor, fromClientError, globals, printJson } from "../context.js";
import { printable } from "../format.js";

/** Open `url` in the desktop's browser; false when this machine has none to open. */
function openBrowser(url: string): boolean {
  const opener = process.platform === "darwin" ? "open" : process.platform === "win32" ? undefined : process.env.DISPLAY || process.env.WAYLAND_DISPLAY ? "xdg-open" : undefined;
  if (!opener || !which(opener)) return false;
  const child = spawn(opener, [url], { detached: true, stdio: "ignore" });
  child.on("error", () => undefined);
  child.unref();
  return true;
}

export function register(program: Command): void {
  program
    .command("dashboard")
    .description("print (and open) a one-time login link to the web dashboard; it works once, for two minutes")
    .option("--no-open", "only print the link")
    .action(async (options: { open: boolean }, command: Command) => {
      const client = clientFor(command);
      const link = await client.dashboardLink().catch(fromClientError);
      const url = `${client.url}${link.path}`;
      if (globals(command).json) {
        printJson({ url, expires_at: link.expires_at, scope: link.scope });
        return;
      }
      const opened = options.open && openBrowser(url);
      console.log(`${printable(`Dashboard login link (works once, until ${new Date(link.expires_at).toLocaleTimeString()}; scope ${link.scope}):`)}\n  ${printable(url)}`);
      if (opened) console.log("(opened in your browser)");
    });
}

#!/usr/bin/env node
/**
 * `ocf`: turn on Node's on-disk compile cache (in the OS temp folder), then load the program, so a
 * short command such as `ocf exec` does not recompile its modules on every run.
 */
import { enableCompileCache } from "node:module";

enableCompileCache?.();
// `ocf nodes list | head`: a reader that stops early is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});
const { main } = await import("./program.js");
process.exitCode = await main(process.argv);

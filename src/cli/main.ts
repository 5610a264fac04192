#!/usr/bin/env node
/**
 * `ocf`: turn on Node's on-disk compile cache (in the OS temp folder), then load the program, so a
 * short command such as `ocf exec` does not recompile its modules on every run.
 */
import { enableCompileCache } from "node:module";

enableCompileCache?.();
const { main } = await import("./program.js");
process.exitCode = await main(process.argv);

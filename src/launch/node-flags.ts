/**
 * V8 flags per process role (bin/ocf applies the same for `ocf worker` and `ocf coordinator`).
 * V8's default young generation grows to 16 MB per semi-space, 32-48 MB of RSS that an idle worker
 * or a heartbeat-driven coordinator never needs; 1 MB semi-spaces for both (BENCHMARKS.md: idle
 * worker 121 -> ~90 MB; coordinator with 10,000 heartbeating nodes ~220 -> ~142 MB, where 2 MB gave
 * ~148 MB; broadcast to 10,000 stays within its target).
 * A worker's JavaScript is glue around fork/exec, pipes and native crypto: V8's optimizing compilers
 * (Maglev, TurboFan) bring it no measurable speed (exec `true` 2.56 vs 2.73-2.84 ms, 1 MB of output
 * 29.5-31.7 ms either way) but page in ~7 MB of their own code and keep optimized code on the heap:
 * idle worker ~88 -> ~78 MB. The coordinator keeps them (10,000 nodes' heartbeats and broadcasts).
 */
export type ProcessRole = "worker" | "coordinator";

const ROLE_FLAGS: Record<ProcessRole, readonly string[]> = {
  worker: ["--max-semi-space-size=1", "--no-opt", "--no-maglev"],
  coordinator: ["--max-semi-space-size=1"],
};

export function nodeFlagsFor(role: ProcessRole): string[] {
  return [...ROLE_FLAGS[role]];
}

/** A flag's name without its value: `--max-semi-space-size=2` → `--max-semi-space-size`. */
const flagName = (flag: string): string => flag.split("=", 1)[0] as string;
const ROLE_FLAG_NAMES = new Set(Object.values(ROLE_FLAGS).flat().map(flagName));

/** A parent's own Node flags minus the ones this module sets per role (whatever their value). */
export function inheritedFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((flag) => !ROLE_FLAG_NAMES.has(flagName(flag)));
}

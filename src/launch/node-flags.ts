/**
 * V8 flags per process role (bin/ocf applies the same for `ocf worker` and `ocf coordinator`).
 * V8's default young generation grows to 16 MB per semi-space, 32-48 MB of RSS that an idle worker
 * or a heartbeat-driven coordinator never needs; 1 MB semi-spaces for both (BENCHMARKS.md: idle
 * worker 121 -> ~90 MB; coordinator with 10,000 heartbeating nodes ~220 -> ~142 MB, where 2 MB gave
 * ~148 MB; broadcast to 10,000 stays within its target).
 */
export type ProcessRole = "worker" | "coordinator";

const SEMI_SPACE_MB: Record<ProcessRole, number> = { worker: 1, coordinator: 1 };

export function nodeFlagsFor(role: ProcessRole): string[] {
  return [`--max-semi-space-size=${SEMI_SPACE_MB[role]}`];
}

/** A parent's own Node flags minus the ones this module sets per role. */
export function inheritedFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((flag) => !flag.startsWith("--max-semi-space-size"));
}

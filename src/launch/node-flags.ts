/**
 * V8 flags per process role (bin/ocf applies the same for `ocf worker` and `ocf coordinator`).
 * V8's default young generation grows to 16 MB per semi-space, 32-48 MB of RSS that an idle worker
 * or a heartbeat-driven coordinator never needs: 1 MB for a worker, 2 MB for the coordinator
 * (measured in BENCHMARKS.md: worker 121 -> 95 MB idle, coordinator with 10,000 nodes 219 -> ~170 MB,
 * broadcast to 10,000 unchanged within noise).
 */
export type ProcessRole = "worker" | "coordinator";

const SEMI_SPACE_MB: Record<ProcessRole, number> = { worker: 1, coordinator: 2 };

export function nodeFlagsFor(role: ProcessRole): string[] {
  return [`--max-semi-space-size=${SEMI_SPACE_MB[role]}`];
}

/** A parent's own Node flags minus the ones this module sets per role. */
export function inheritedFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((flag) => !flag.startsWith("--max-semi-space-size"));
}

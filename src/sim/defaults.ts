/** Defaults of the fleet simulator, light enough for the CLI's option definitions. */
export const SIM_DEFAULTS = { prefix: "sim", connections: 4, maxConcurrentTasks: 5, heartbeatIntervalMs: 5000, enrollConcurrency: 50 } as const;

/** The process mode's cap: each full worker is a Node process (~50 MB). */
export const MAX_WORKER_PROCESSES = 200;

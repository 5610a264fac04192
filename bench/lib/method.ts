/** BENCHMARKS.md, rewritten by every full `npm run bench`: the latest table, the targets, and how it was measured. */
import type { RunMeta } from "./report.js";

export function methodText(input: { meta: RunMeta; table: string; verdictLines: string[]; skipped: string[]; svgPath: string; jsonPath: string }): string {
  const { meta } = input;
  return `# Benchmarks

Written by \`npm run bench\` (full run, ${meta.date}); do not edit by hand. Machine: ${meta.cpus} cores
(${meta.cpu}), ${meta.memoryGb} GiB, Node ${meta.node}, ${Object.entries(meta.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ")}. Raw figures: [${input.jsonPath}](${input.jsonPath}).

![p50 latencies, log scale](${input.svgPath})

## Targets (issue 10)

${input.verdictLines.join("\n")}

## Latest run

Latencies are p50 / p99 over n runs, in one run on this machine; "vs baseline" divides the
baseline's p50 (or value) by ours, both measured in that same run.

${input.table}

${input.skipped.length ? `Not measured in this run:\n\n${input.skipped.map((s) => `- ${s}`).join("\n")}\n` : ""}
## How to run it

\`\`\`sh
npm run bench                    # everything, ~6 min (+1 min once to install OpenClaw); rewrites this file
npm run bench -- --quick         # under 2 minutes, small counts, no OpenClaw (CI runs this)
npm run bench -- --skip openclaw,tasks --processes 50 --max-nodes 1100
ocf sim --nodes 10000            # the simulator on its own, against a running coordinator
ocf sim --processes 50           # fifty full worker processes
\`\`\`

The ssh baselines need \`openssh-server\`, \`openssh-client\` and \`pssh\` (and \`ansible\` for its
row); \`.ci/run\` installs the first three. Missing tools are reported under "Not measured", never
guessed. OpenClaw's node path installs \`openclaw@2026.9.6\` once into \`~/.cache/ocf/\` (about 840 MB).

## Method

Everything runs on loopback on one machine, each component in its own process: nats-server in
operator mode (as \`ocf up\` starts it), the built coordinator (\`bin/ocf coordinator\`), built workers
(\`bin/ocf worker\`), simulators (\`bin/ocf sim\`). The benchmark process only sends requests and reads
CPU time and RSS of the others from \`/proc\`. Coordinator settings: \`auto_approve\`,
\`heartbeat_timeout 15\`, \`heartbeat_check_interval 1\` (the seed's 90 / 30 would make the detection
row 90–120 s and the sweep 30 times rarer), log level info to \`logs/coordinator.log\`.

- **Exec.** \`POST /api/v1/exec\` of \`true\` on one worker process from an HTTP client in the
  benchmark process (node:http, whose default agent keeps the connection alive, as a long-running
  API client would), 20 warm-up runs.
  \`ocf exec\` is the whole CLI process (\`bin/ocf exec bench-w true\`: bash wrapper, Node start,
  config, one HTTP call). The floor is what any design pays at least: a spawn of \`sh -c true\` from
  Node plus one NATS request/reply, summed sample by sample.
- **ssh.** Our own sshd on loopback with a generated ed25519 key (\`ssh -F /dev/null\`, no
  multiplexing, the default key exchange; a multiplexed row shows ssh's best case). pssh and
  ansible run \`true\` on 20 loopback addresses (127.0.0.1–20, two sshd processes since one listens
  on at most 16); their 1,000 and 10,000 node figures are **extrapolated** (formulas in the notes),
  not measured. Root's shell start-up files are skipped on the ssh side, which makes ssh faster.
- **OpenClaw.** \`openclaw@2026.9.6\`: a gateway on loopback and a node host (\`openclaw node run\`),
  paired (loopback pairing is silent; the node's commands approved with \`openclaw nodes approve\`).
  \`openclaw nodes invoke\` refuses \`system.run\`, so the CLI row is \`openclaw gateway call node.invoke\`
  with \`system.run\` \`["true"]\`, checked for exit 0; the in-process row is the same call over the
  gateway's WebSocket. The node host's RSS sums its wrapper and its \`openclaw-node\` child.
- **Simulated nodes** (\`ocf sim --nodes N\`, src/sim/fleet.ts). Each node enrolls for real: its own
  Ed25519 key, a signed join over HTTP, approved by the coordinator, which signs its JWT. Each has
  its own NATS subscriptions (its exec and task subjects and the broadcast subject, so nats-server
  delivers one copy of a broadcast per node), decodes every request with the worker's schemas and
  answers in the worker's message formats; heartbeats every 5 s, spread evenly over the interval.
  **What they share:** one process and 4 NATS connections opened with service credentials from the
  coordinator's trust store (not each node's permission-limited JWT, so nats-server checks fewer
  permissions than for real workers). **What they skip:** fork/exec (a command "runs" in no time and
  exits 0; add the floor's spawn for a real one), the worker's probes, journal and files.
- **Full worker processes** (\`ocf sim --processes N\`, up to 200): real \`ocf worker\` processes, each
  with its own key, JWT, connection and a real \`sh -c true\` per request. Their broadcast row is the
  check that the simulator's figures hold at the same size.
- **Broadcast** is \`POST /api/v1/broadcast\` until every result is in; every run checks
  \`summary.ok\` = the number of nodes (missing must be 0; the note gives the total). The 1,000-node
  step uses a label selector while 1,100 nodes are online (the 100 others receive and skip it).
- **Enrollment storm.** One \`ocf sim --nodes 1000\` joins 50 at a time; the figure is from its start
  (key generation included) until the coordinator lists all of them online.
- **Heartbeat load** is read over a 30 s window with the whole simulated fleet beating: coordinator
  CPU time / wall time (% of one core), RSS, heartbeats received and SQLite rows written per second
  (from \`/metrics\`: \`ocf_heartbeats_received_total\`, \`ocf_liveness_rows_written_total\`). Twice:
  right after the 10,000 joins and the broadcasts (the heap still holds their garbage: a transient,
  reported but not judged) and in **steady state**: the coordinator restarted (SIGTERM, start) with
  the fleet in its registry, as a long-running coordinator is; the targets are judged there.
  **Detection** silences one extra simulated node right after a heartbeat and times until the API
  shows it offline.
- **Durable tasks** (issue 6) use in-process simulated workers (bench/sim-node.ts, per-node
  connections and JWTs).

## What was profiled and fixed (before → after, this machine)

Each miss was profiled (\`node --cpu-prof\`, heap snapshots, \`/proc/<pid>/smaps\`) and its cause fixed:

| figure | before | after | cause and fix |
|---|---|---|---|
| enrollment storm, 1,000 nodes | 54.2 s | ~1.7 s | 70 % of the CPU in pure-JS Ed25519: nkeys recomputes the account's public key on every call and signs in JS. Joins are verified, node JWTs signed and keys derived with node:crypto (\`src/protocol/ed25519.ts\`); a join no longer sorts every node to find a key's owner |
| \`ocf exec\` whole process | 402 ms | ~150 ms | every run loaded every command's modules (coordinator, SQLite, MCP SDK) and fetch's engine (undici, ~100 ms). Commands load their heavy parts lazily, JSON calls use node:http, the compile cache is on, \`bin/ocf\` runs a bundled CLI (\`dist/ocf/\`) and finds Node without starting a process |
| broadcast to 10,000 | 310 ms | ~235 ms | a quarter of it wrote 10,000 audit lines through pino, one \`write\` each; the audit file is now written once per batch (still before the answer) |
| idle worker RSS | 129 MB | ~78–81 MB (77–78 idle after start; 80.7 after the bench’s 330 execs) | the whole CLI loaded (−7 MB); V8's 16 MB semi-spaces (\`--max-semi-space-size=1\`: −25 MB); module loading (bundle: −8 MB); V8's optimizing compilers, which a worker's glue code does not need (\`--no-opt --no-maglev\`: −7 to −10 MB, exec latency unchanged); pure-JS Ed25519 at start (identity key, NATS nonce signature, JWT check: ~100 ms and hundreds of MB of garbage, leaving 32 MB of pooled V8 pages in most workers) now node:crypto; pino-pretty only on a terminal |
| coordinator RSS, 10,000 nodes heartbeating | ~220 MB | ~142–150 MB (steady state) | 32 MB of young generation (\`--max-semi-space-size=1\`; 2 MB gave 145–153 MB), glibc malloc arenas (\`MALLOC_ARENA_MAX=2\`); set by \`bin/ocf\` and \`ocf up\` (\`src/launch/node-flags.ts\`) |

Where a target is still missed:

- **exec via the API ≤ 3 ms.** The floor on this machine (a spawn of \`sh -c true\` from Node plus
  one NATS round trip) is already ~2.9 ms and the worker alone answers in ~2.8 ms; the HTTP request,
  token check, audit row and second NATS hop add ~1 ms. Meeting 3 ms needs a cheaper process start
  than Node's fork of a ~80 MB process (for example a small resident spawner), not a fix in the path.
- **idle worker ≤ 60 MB.** Node 24 doing nothing is ~43 MB RSS here, most of it the \`node\`
  binary's own pages (shared between processes). In the idle worker (\`/proc/<pid>/smaps\`) 43 MB
  are that binary's pages (24 MB code, 19 MB read-only data: Node's built-in modules it loads) and
  ~30 MB its heap (V8 holds ~17 MB of live objects: the libraries zod, NATS, pino, yaml and the
  worker's own). 60 MB needs a smaller runtime or fewer libraries. (V8's \`--lite-mode\` stops the
  worker from starting, \`--jitless\` breaks its enrollment, \`--max-old-space-size=32\` changes
  nothing.)
- Broadcasts to **full worker processes** are slower than to simulated nodes on one machine
  because every node forks \`sh\` on the same 2 cores (the workers report their own command times in
  the note); on a real fleet each node forks on its own CPU, adding one spawn (~3 ms) to the
  simulated figure.
`;
}

/**
 * Many simulated nodes multiplexed over a few NATS connections, for fan-out figures at 1,000 to
 * 10,000 nodes on one machine. Each node enrolls for real (its own Ed25519 key, a signed join over
 * HTTP, approved by the coordinator); after that the nodes share K connections with full rights in
 * the fleet account (what they share: the connections and this process; what they skip: per-node
 * JWT permissions and fork/exec). Each shared connection answers a broadcast once per node it
 * carries, with that node's own id, and publishes every node's heartbeat.
 */
import { TRUST_DIR } from "../src/coordinator/coordinator.js";
import { decodeMessage, encodeMessage } from "../src/protocol/codec.js";
import { BroadcastRequestSchema, PROTOCOL_VERSION } from "../src/protocol/messages.js";
import { subjects as makeSubjects } from "../src/protocol/subjects.js";
import { connectNats, type NatsConnection } from "../src/transport/connection.js";
import { TrustStore } from "../src/transport/trust.js";
import { silentLogger } from "../src/util/logger.js";
import { join } from "node:path";
import { enrollSimulated, simHeartbeat } from "./sim-node.js";

export class SimFleet {
  private readonly connections: NatsConnection[] = [];
  private timers: NodeJS.Timeout[] = [];
  readonly ids: string[];

  constructor(
    readonly size: number,
    private readonly connectionCount = 4,
    prefix = "mx",
  ) {
    this.ids = Array.from({ length: size }, (_, i) => `${prefix}-${i}`);
  }

  /** Enroll every node over HTTP (in parallel batches), then open the shared connections. */
  async start(coordinatorUrl: string, natsUrl: string, coordinatorStateDir: string): Promise<void> {
    for (let at = 0; at < this.ids.length; at += 200) {
      await Promise.all(
        this.ids.slice(at, at + 200).map((id) => enrollSimulated(coordinatorUrl, id, { labels: {}, maxConcurrent: 5 })),
      );
    }
    const trust = await TrustStore.open(join(coordinatorStateDir, TRUST_DIR));
    const s = makeSubjects();
    for (let c = 0; c < this.connectionCount; c += 1) {
      const nc = await connectNats({ url: natsUrl, name: `sim-fleet-${c}`, logger: silentLogger(), credentials: await trust.serviceCredentials(`sim-fleet-${c}`) });
      this.connections.push(nc);
      const mine = this.ids.filter((_, i) => i % this.connectionCount === c);
      nc.subscribe(s.broadcast("exec"), {
        callback: (_err, msg) => {
          const request = decodeMessage(msg.data, BroadcastRequestSchema);
          if (!msg.reply) return;
          for (const id of mine) {
            nc.publish(msg.reply, encodeMessage({ v: PROTOCOL_VERSION, id: request.id, node_id: id, status: "ok", exit_code: 0, signal: null, stdout: "", stderr: "", duration_ms: 0, truncated: false }));
          }
        },
      });
      let seq = 0;
      const beat = (): void => {
        for (const id of mine) nc.publish(s.heartbeat(id), simHeartbeat(id, seq++, 0, 5));
      };
      beat();
      this.timers.push(setInterval(beat, 5000));
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const nc of this.connections) await nc.close().catch(() => undefined);
  }
}

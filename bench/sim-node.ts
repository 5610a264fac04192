/**
 * A simulated worker for benchmarks: the real protocol (its own Ed25519 key, a signed join over
 * HTTP, its own NATS user JWT and permissions, heartbeats, task acknowledgements, started and done
 * events answered by the coordinator) but no process is spawned: a task "runs" in no time and
 * exits 0. What it shares with a real worker is everything on the wire; what it skips is fork/exec.
 */
import { decodeMessage, encodeMessage } from "../src/protocol/codec.js";
import { PROTOCOL_VERSION, TaskMessageSchema } from "../src/protocol/messages.js";
import { enrollNode, simHeartbeat } from "../src/sim/fleet.js";
import { subjects as makeSubjects } from "../src/protocol/subjects.js";
import { connectNats, type NatsConnection } from "../src/transport/connection.js";
import { nodeInboxPrefix } from "../src/transport/trust.js";
import { silentLogger } from "../src/util/logger.js";

export class SimNode {
  private nc?: NatsConnection;
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private running = 0;
  /** When each task's completion was acknowledged by the coordinator (performance.now()). */
  readonly completed = new Map<string, number>();

  constructor(
    readonly nodeId: string,
    private readonly maxConcurrent: number,
    /** Called when the coordinator acknowledged a task's completion. */
    private readonly onComplete: (taskId: string) => void = () => undefined,
  ) {}

  async start(coordinatorUrl: string, natsUrl: string): Promise<void> {
    const { key, jwt } = await enrollNode(coordinatorUrl, this.nodeId, { labels: { sim: "yes" }, maxConcurrentTasks: this.maxConcurrent });
    const nc = await connectNats({ url: natsUrl, name: this.nodeId, logger: silentLogger(), credentials: { jwt, seed: key.getSeed() }, inboxPrefix: nodeInboxPrefix(this.nodeId) });
    this.nc = nc;
    const s = makeSubjects();
    nc.subscribe(s.task(this.nodeId), {
      callback: (_err, msg) => {
        const message = decodeMessage(msg.data, TaskMessageSchema);
        const ack = (status: string): void => {
          msg.respond(encodeMessage({ v: PROTOCOL_VERSION, task_id: message.task_id, attempt: message.attempt, node_id: this.nodeId, status }));
        };
        if (message.type !== "assign") return ack("unknown");
        if (this.running >= this.maxConcurrent) return ack("busy");
        this.running += 1;
        ack("accepted");
        const now = Date.now();
        const base = { v: PROTOCOL_VERSION, node_id: this.nodeId, task_id: message.task_id, attempt: message.attempt };
        nc.publish(s.taskEvents(this.nodeId), encodeMessage({ ...base, type: "started", ts: now }));
        const done = { ...base, type: "done", state: "succeeded", exit_code: 0, signal: null, stdout: "", stderr: "", truncated: false, started_at: now, finished_at: Date.now() };
        // As a real worker: the slot is free once the result is sent (its journal keeps it until acknowledged).
        this.running -= 1;
        const send = (): void => {
          nc.request(s.taskEvents(this.nodeId), encodeMessage(done), { timeout: 10_000 })
            .then(() => {
              this.completed.set(message.task_id, performance.now());
              this.onComplete(message.task_id);
            })
            .catch(() => setTimeout(send, 500));
        };
        send();
      },
    });
    const beat = (): void => {
      nc.publish(s.heartbeat(this.nodeId), simHeartbeat(this.nodeId, this.seq++, this.running, this.maxConcurrent));
    };
    beat();
    this.timer = setInterval(beat, 5000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.nc?.close();
  }
}

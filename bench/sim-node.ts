/**
 * A simulated worker for benchmarks: the real protocol (its own Ed25519 key, a signed join over
 * HTTP, its own NATS user JWT and permissions, heartbeats, task acknowledgements, started and done
 * events answered by the coordinator) but no process is spawned: a task "runs" in no time and
 * exits 0. What it shares with a real worker is everything on the wire; what it skips is fork/exec.
 */
import { answerTask, enrollNode, simHeartbeat } from "../src/sim/fleet.js";
import { subjects as makeSubjects } from "../src/protocol/subjects.js";
import { connectNats, type NatsConnection } from "../src/transport/connection.js";
import { nodeInboxPrefix } from "../src/transport/trust.js";
import { silentLogger } from "../src/util/logger.js";

export class SimNode {
  private nc?: NatsConnection;
  private timer?: NodeJS.Timeout;
  private seq = 0;
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
        answerTask(nc, msg, this.nodeId, s, (taskId) => {
          this.completed.set(taskId, performance.now());
          this.onComplete(taskId);
        });
      },
    });
    const beat = (): void => {
      nc.publish(s.heartbeat(this.nodeId), simHeartbeat(this.nodeId, this.seq++, this.maxConcurrent));
    };
    beat();
    this.timer = setInterval(beat, 5000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.nc?.close();
  }
}
